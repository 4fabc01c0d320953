/**
 * Every API route against every kind of caller, on a real server and store: the answer is 401, 403
 * or "let through" (anything else) exactly as the expected table below says. The table is written
 * here, apart from the server's own (src/auth/authz/route-table.ts), and the test fails when the
 * server has a route this table does not list.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import { ImageStore } from '../../src/image/index.ts';
import { ManualClock } from '../../src/lib/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';

type Caller = 'none' | 'revoked' | 'expired' | 'viewer' | 'deployer' | 'admin' | 'agent' | 'host';
const CALLERS: Caller[] = ['none', 'revoked', 'expired', 'viewer', 'deployer', 'admin', 'agent', 'host'];
type Outcome = 'ok' | 401 | 403;

/** Who gets through, per kind of route; everyone else authenticated gets 403, the rest 401. */
const THROUGH: Record<string, Caller[]> = {
  open: CALLERS,
  any: ['viewer', 'deployer', 'admin', 'agent', 'host'],
  read: ['viewer', 'deployer', 'admin'],
  write: ['deployer', 'admin'],
  admin: ['admin'],
  join: ['agent', 'admin'],
  host: ['host', 'admin'],
  fetch: ['viewer', 'deployer', 'admin', 'host'],
  // Certificate renewal: only a host by its current certificate (over TLS; test/api/tls.test.ts),
  // so on this plain-HTTP server no caller gets through (a host credential gets 403 too).
  hostcert: [],
};

/** Route -> the kind above, and how to call it (path with parameters filled, query, body). */
const ROUTES: Record<string, { kind: keyof typeof THROUGH; path: string; body?: unknown }> = {
  'GET /v1/health': { kind: 'open', path: '/v1/health' },
  'GET /v1/ca': { kind: 'open', path: '/v1/ca' },
  // The web UI's static files are public (their API calls carry the token).
  'GET /': { kind: 'open', path: '/' },
  'GET /ui': { kind: 'open', path: '/ui' },
  'GET /ui/:file': { kind: 'open', path: '/ui/index.html' },
  'GET /v1/whoami': { kind: 'any', path: '/v1/whoami' },
  'GET /v1/version': { kind: 'any', path: '/v1/version' },
  'GET /v1/events': { kind: 'read', path: '/v1/events' },
  'GET /v1/servers': { kind: 'read', path: '/v1/servers' },
  'GET /v1/jobs': { kind: 'read', path: '/v1/jobs' },
  'PUT /v1/jobs/:name': { kind: 'write', path: '/v1/jobs/zz', body: {} },
  'GET /v1/jobs/:name': { kind: 'read', path: '/v1/jobs/web' },
  'DELETE /v1/jobs/:name': { kind: 'write', path: '/v1/jobs/nothing' },
  'POST /v1/jobs/:name/plan': { kind: 'read', path: '/v1/jobs/web/plan', body: {} },
  'POST /v1/jobs/:name/promote': { kind: 'write', path: '/v1/jobs/nothing/promote', body: {} },
  'POST /v1/jobs/:name/rollback': { kind: 'write', path: '/v1/jobs/nothing/rollback', body: {} },
  'POST /v1/jobs/:name/scale': { kind: 'write', path: '/v1/jobs/nothing/scale', body: { replicas: 1 } },
  'POST /v1/jobs/:name/restart': { kind: 'write', path: '/v1/jobs/nothing/restart', body: {} },
  'GET /v1/jobs/:name/versions': { kind: 'read', path: '/v1/jobs/web/versions' },
  'GET /v1/jobs/:name/tasks': { kind: 'read', path: '/v1/jobs/web/tasks' },
  'GET /v1/jobs/:name/deployments': { kind: 'read', path: '/v1/jobs/web/deployments' },
  'GET /v1/tasks/:id': { kind: 'read', path: '/v1/tasks/web-aaaaa' },
  'GET /v1/tasks/:id/logs': { kind: 'read', path: '/v1/tasks/web-aaaaa/logs' },
  'POST /v1/tasks/:id/exec': { kind: 'write', path: '/v1/tasks/web-aaaaa/exec', body: { command: ['true'] } },
  'GET /v1/hosts': { kind: 'read', path: '/v1/hosts' },
  'GET /v1/pools': { kind: 'read', path: '/v1/pools' },
  'POST /v1/hosts/join': { kind: 'join', path: '/v1/hosts/join', body: {} },
  'POST /v1/hosts': { kind: 'host', path: '/v1/hosts', body: {} },
  'POST /v1/hosts/:id/heartbeat': { kind: 'host', path: '/v1/hosts/h1/heartbeat', body: {} },
  'GET /v1/hosts/:id/assignments': { kind: 'host', path: '/v1/hosts/h1/assignments' },
  'GET /v1/hosts/:id/volumes': { kind: 'host', path: '/v1/hosts/h1/volumes' },
  'GET /v1/hosts/:id/commands': { kind: 'host', path: '/v1/hosts/h1/commands' },
  'POST /v1/hosts/:id/commands/:cmd/result': {
    kind: 'host',
    path: '/v1/hosts/h1/commands/nothing/result',
    body: { ok: true, detail: 'restarted' },
  },
  'POST /v1/hosts/:id/certificate': { kind: 'hostcert', path: '/v1/hosts/h1/certificate', body: {} },
  'PUT /v1/tasks/:id/status': { kind: 'host', path: '/v1/tasks/web-aaaaa/status', body: {} },
  // Readers covering every namespace only: the test's viewer and deployer cover `default`.
  'GET /v1/hosts/:id/history': { kind: 'admin', path: '/v1/hosts/h1/history?at=-30s' },
  'POST /v1/hosts/:id/cordon': { kind: 'admin', path: '/v1/hosts/nohost/cordon', body: {} },
  'POST /v1/hosts/:id/uncordon': { kind: 'admin', path: '/v1/hosts/nohost/uncordon', body: {} },
  'POST /v1/hosts/:id/drain': { kind: 'admin', path: '/v1/hosts/nohost/drain', body: { deadline: 'x' } },
  'POST /v1/maintenance': { kind: 'admin', path: '/v1/maintenance', body: { hosts: ['nohost'] } },
  'POST /v1/maintenance/end': { kind: 'admin', path: '/v1/maintenance/end', body: {} },
  'GET /v1/remediation': { kind: 'read', path: '/v1/remediation' },
  'PUT /v1/remediation': {
    kind: 'admin',
    path: '/v1/remediation',
    body: { file: { rules: [] }, message: 'x' },
  },
  'GET /v1/remediation/log': { kind: 'read', path: '/v1/remediation/log' },
  'GET /v1/watch': { kind: 'host', path: '/v1/watch?prefix=/assign/h1/' },
  'GET /v1/images': { kind: 'read', path: '/v1/images' },
  'POST /v1/images/import': { kind: 'write', path: '/v1/images/import', body: {} },
  'POST /v1/images/create': { kind: 'write', path: '/v1/images/create', body: {} },
  'GET /v1/images/manifests/:ref': { kind: 'fetch', path: '/v1/images/manifests/nothing' },
  'GET /v1/images/blobs/:digest': { kind: 'fetch', path: '/v1/images/blobs/nothing' },
  'DELETE /v1/images/:ref': { kind: 'admin', path: '/v1/images/nothing' },
  'GET /v1/configs': { kind: 'read', path: '/v1/configs' },
  'PUT /v1/configs/:path': { kind: 'write', path: '/v1/configs/app%2Fz.txt', body: {} },
  'GET /v1/configs/:path': { kind: 'fetch', path: '/v1/configs/app%2Fnothing.json' },
  'GET /v1/configs/:path/content': { kind: 'fetch', path: '/v1/configs/app%2Fnothing.json/content' },
  'GET /v1/configs/:path/versions': { kind: 'read', path: '/v1/configs/app%2Fnothing.json/versions' },
  'POST /v1/configs/:path/revert': { kind: 'write', path: '/v1/configs/app%2Fnothing.json/revert', body: {} },
  'GET /v1/configs/:path/status': { kind: 'read', path: '/v1/configs/app%2Fnothing.json/status' },
  'PUT /v1/configs/:path/hosts/:id': {
    kind: 'host',
    path: '/v1/configs/app%2Fnothing.json/hosts/h1',
    body: { version: 1, digest: 'sha256:0' },
  },
  'GET /v1/configdist/shards/:shard/hosts/:id/tree': {
    kind: 'host',
    path: '/v1/configdist/shards/0/hosts/h1/tree?url=http%3A%2F%2F127.0.0.1%3A1',
  },
  'POST /v1/configdist/shards/:shard/hosts/:id/heartbeat': {
    kind: 'host',
    path: '/v1/configdist/shards/0/hosts/h1/heartbeat',
    body: {},
  },
  'GET /v1/configdist/shards/:shard/hosts/:id/meta': {
    kind: 'host',
    path: '/v1/configdist/shards/0/hosts/h1/meta',
  },
  'POST /v1/configdist/hosts/:id/reports': {
    kind: 'host',
    path: '/v1/configdist/hosts/h1/reports',
    body: { reports: [] },
  },
  'POST /v1/tokens': { kind: 'admin', path: '/v1/tokens', body: {} },
  'GET /v1/tokens': { kind: 'admin', path: '/v1/tokens' },
  'DELETE /v1/tokens/:name': { kind: 'admin', path: '/v1/tokens/nobody' },
  'POST /v1/namespaces': { kind: 'admin', path: '/v1/namespaces', body: {} },
  'GET /v1/namespaces': { kind: 'read', path: '/v1/namespaces' },
  'PUT /v1/namespaces/:name/quota': { kind: 'admin', path: '/v1/namespaces/default/quota', body: {} },
  'GET /v1/audit': { kind: 'admin', path: '/v1/audit' },
  'POST /v1/metrics/ingest': { kind: 'host', path: '/v1/metrics/ingest', body: {} },
  'POST /v1/metrics/copies/:origin': { kind: 'host', path: '/v1/metrics/copies/0123456789abcdef', body: {} },
  'GET /v1/metrics/query': { kind: 'read', path: '/v1/metrics/query?name=x' },
  'GET /federate': { kind: 'read', path: '/federate?match[]=x' },
  'GET /metrics': { kind: 'read', path: '/metrics' },
  'GET /v1/boards': { kind: 'read', path: '/v1/boards' },
  'GET /v1/boards/:name': { kind: 'read', path: '/v1/boards/nothing' },
  'PUT /v1/boards/:name': { kind: 'write', path: '/v1/boards/zz', body: { title: 'z', panels: [] } },
  'DELETE /v1/boards/:name': { kind: 'write', path: '/v1/boards/nothing' },
  'GET /v1/services': { kind: 'read', path: '/v1/services' },
  'GET /v1/services/:name/endpoints': { kind: 'read', path: '/v1/services/web/endpoints' },
  'GET /v1/mesh': { kind: 'read', path: '/v1/mesh' },
  'GET /v1/mesh/versions': { kind: 'read', path: '/v1/mesh/versions' },
  'GET /v1/mesh/stats': { kind: 'read', path: '/v1/mesh/stats' },
  'PUT /v1/mesh': { kind: 'admin', path: '/v1/mesh', body: {} },
  'POST /v1/mesh/rollback': { kind: 'admin', path: '/v1/mesh/rollback', body: {} },
  'GET /v1/hosts/:id/mesh': { kind: 'host', path: '/v1/hosts/h1/mesh' },
  'GET /v1/hosts/:id/peers': { kind: 'host', path: '/v1/hosts/h1/peers' },
};

function expected(kind: keyof typeof THROUGH, caller: Caller): Outcome {
  if (THROUGH[kind]?.includes(caller)) return 'ok';
  return caller === 'none' || caller === 'revoked' || caller === 'expired' ? 401 : 403;
}

async function call(
  url: string,
  method: string,
  path: string,
  token: string | undefined,
  body: unknown,
): Promise<{ status: number; body: { code?: string; details?: Record<string, unknown> } }> {
  const controller = new AbortController();
  const headers: Record<string, string> = {};
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, {
    method,
    headers,
    signal: controller.signal,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // Streams (watch, logs) answer 200 and go on: the status is all that is needed.
  if ((res.headers.get('content-type') ?? '').includes('event-stream')) {
    controller.abort();
    return { status: res.status, body: {} };
  }
  const text = await res.text();
  let parsed: { code?: string; details?: Record<string, unknown> } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // a non-JSON body (a blob) is fine
  }
  return { status: res.status, body: parsed };
}

describe('authorization: every route x every caller', () => {
  let t: TestServer;
  const clock = new ManualClock(Date.now());
  const tokens = new Map<Caller, string | undefined>();
  let imagesDir = '';

  before(async () => {
    // With an image store, so that the image routes exist.
    imagesDir = await mkdtemp(join(tmpdir(), 'dabba-authz-images-'));
    t = await startTestServer('authz', { clock, images: await ImageStore.open(imagesDir) });
    const admin = t.client;
    const make = async (name: string, role: string, ttl?: string): Promise<string> =>
      (await admin.createToken({ name, role, ...(ttl === undefined ? {} : { ttl }) })).token;
    tokens.set('none', undefined);
    tokens.set('admin', t.adminToken);
    tokens.set('viewer', await make('v', 'viewer'));
    tokens.set('deployer', await make('d', 'deployer'));
    tokens.set('agent', await make('j', 'agent'));
    tokens.set('expired', await make('e', 'viewer', '1h'));
    const revoked = await make('r', 'viewer');
    await admin.revokeToken('r');
    tokens.set('revoked', revoked);
    const joined = await new DabbaClient({ addr: t.server.url, token: tokens.get('agent') ?? '' }).join('h1');
    tokens.set('host', joined.credential);
    await admin.putJob('web', { name: 'web', replicas: 1, task: { command: ['sleep', '1000'] } });
    clock.advance(2 * 3_600_000); // the 1h token is now expired
  });
  after(async () => {
    await t.close();
    await rm(imagesDir, { recursive: true, force: true });
  });

  test('the table lists every route the server serves, and only those', () => {
    const served = t.server
      .routes()
      .map((r) => `${r.method} ${r.pattern}`)
      .sort();
    assert.deepEqual(served, Object.keys(ROUTES).sort());
  });

  for (const [route, r] of Object.entries(ROUTES)) {
    test(route, async () => {
      const method = route.split(' ')[0] ?? 'GET';
      for (const caller of CALLERS) {
        const want = expected(r.kind, caller);
        const got = await call(t.server.url, method, r.path, tokens.get(caller), r.body);
        const outcome: Outcome = got.status === 401 ? 401 : got.status === 403 ? 403 : 'ok';
        assert.equal(outcome, want, `${route} as ${caller}: HTTP ${got.status} ${JSON.stringify(got.body)}`);
        if (want === 401) {
          assert.equal(got.body.code, 'DABBA_E_UNAUTHENTICATED');
          assert.equal(got.body.details?.['reason'], caller === 'none' ? 'missing' : 'invalid');
        }
        if (want === 403) assert.equal(got.body.code, 'DABBA_E_FORBIDDEN');
      }
    });
  }
});
