/**
 * Fuzzes the HTTP listeners of a real server (with an image store) and of a real agent endpoint:
 * random methods, paths (bad percent-encoding, unicode, very long), headers (bogus content-length,
 * transfer-encoding, content-type) and bodies (random bytes, cut JSON, deep nesting), over raw
 * sockets and fetch, most with the admin token (so that they reach the handlers), some with none or
 * a bad one. Whatever the status (401 without a valid token is fine), every
 * request gets an answer or a closed connection within a timeout, no client mistake gets a 5xx,
 * and the process keeps answering its health check after every batch. Bounded in time.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { startEndpoint, type AgentEndpoint } from '../../src/agent/endpoint.ts';
import { ImageStore } from '../../src/image/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { ProcessRuntime } from '../../src/runtime/process/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';

const ANSWER_MS = 5000;

interface Outcome {
  /** The status of the answer, or undefined when the server closed the connection instead. */
  status: number | undefined;
}

/** Sends raw bytes, half-closes, and waits for a status line or the close (whichever comes first). */
function rawRequest(url: string, bytes: Buffer): Promise<Outcome> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `no answer within ${ANSWER_MS} ms to ${JSON.stringify(bytes.subarray(0, 200).toString('latin1'))}`,
        ),
      );
    }, ANSWER_MS);
    const finish = (status: number | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status });
    };
    socket.on('connect', () => {
      socket.write(bytes);
      socket.end();
    });
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      if (m) finish(Number(m[1]));
      else if (got.length > 64) finish(undefined);
    });
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
  });
}

const ROUTES = [
  '/v1/health',
  '/v1/jobs',
  '/v1/jobs/SEG',
  '/v1/jobs/SEG/plan',
  '/v1/jobs/SEG/rollback',
  '/v1/jobs/SEG/promote',
  '/v1/hosts',
  '/v1/hosts/SEG',
  '/v1/hosts/SEG/tasks',
  '/v1/tasks/SEG/logs',
  '/v1/events',
  '/v1/watch',
  '/v1/images',
  '/v1/images/import',
  '/v1/images/create',
  '/v1/images/manifests/SEG',
  '/v1/images/blobs/SEG',
  '/v1/servers',
  '/v1/logs/SEG',
  '/v1/exec/SEG',
  '/v1/ca',
  '/v1/version',
  '/v1/whoami',
  '/v1/jobs/SEG/scale',
  '/v1/jobs/SEG/restart',
  '/v1/tasks/SEG/exec',
  '/v1/hosts/SEG/certificate',
  '/v1/hosts/join',
  '/v1/tokens',
  '/v1/tokens/SEG',
  '/v1/namespaces',
  '/v1/namespaces/SEG/quota',
  '/v1/audit',
];

const segment = fc.oneof(
  fc.constantFrom(
    '%E0',
    '%',
    '%zz',
    '%C0%AF',
    '..',
    '.',
    'sha256:00',
    'known-task',
    'web-1-abc',
    '%2F..%2F',
    '',
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => encodeURIComponent(s)),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer({ min: 100, max: 9000 }).map((n) => 'a'.repeat(n)),
);

const path = fc.oneof(
  fc.tuple(fc.constantFrom(...ROUTES), segment).map(([r, s]) => r.replace('SEG', s)),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('*', 'http://x:99999/v1/health', 'http://[::1/', '//x', '/v1/../../etc/passwd', ''),
);

const query = fc.oneof(
  fc.constant(''),
  fc.constantFrom(
    '?limit=-1',
    '?limit=1e400',
    '?limit=abc',
    '?rev=-5',
    '?rev=99999999999999999999',
    '?tail=%E0',
    '?follow=1&tail=999999999999',
    '?prefix=nope',
    '?name=%',
    '?name=a:b:c',
  ),
  fc.string({ maxLength: 50 }).map((s) => `?${s}`),
);

const method = fc.constantFrom(
  'GET',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'HEAD',
  'OPTIONS',
  'FOO',
  'G\u00e9T',
  'CONNECT',
  'TRACE',
);

const body = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.uint8Array({ maxLength: 2000 }).map((u) => Buffer.from(u)),
  fc.json().map((j) => Buffer.from(j)),
  fc.json().map((j) => Buffer.from(j.slice(0, Math.max(0, j.length - 1)))),
  fc.integer({ min: 1, max: 200_000 }).map((n) => Buffer.from('['.repeat(n) + ']'.repeat(n))),
  fc.integer({ min: 1, max: 50_000 }).map((n) => Buffer.from('{"a":'.repeat(n))),
  fc.constant(Buffer.from('{"name":"web","task":{"command":["x"]},"replicas":1e999}')),
);

const contentType = fc.constantFrom(
  undefined,
  'application/json',
  'application/json; charset=utf-16',
  'text/plain',
  'application/x-tar',
  'application/gzip',
  '\u0000',
  'a'.repeat(5000),
  'application/merge-patch+json',
);

const lengthHeader = fc.oneof(
  fc.constant<'auto'>('auto'),
  fc.constantFrom('-1', '1e10', 'abc', '99999999999999999999', '0', '5, 6', ''),
  fc.constant<'none'>('none'),
);

const transferEncoding = fc.constantFrom(undefined, 'chunked', 'gzip', 'chunked, chunked', 'identity', 'x');

/** With the admin token most requests get past authentication and reach the handlers. */
const authorizationOf = (token: string): fc.Arbitrary<string | undefined> =>
  fc.constantFrom(
    `Bearer ${token}`,
    `Bearer ${token}`,
    `Bearer ${token}`,
    undefined,
    'Bearer dabba_bogus',
    'Bearer ',
    'Basic eDp5',
    `Bearer ${token}\u0000`,
  );

const requestOf = (token: string): fc.Arbitrary<RequestSpec> =>
  fc.record({
    method,
    path,
    query,
    body,
    contentType,
    lengthHeader,
    transferEncoding,
    authorization: authorizationOf(token),
  });

function encode(r: RequestSpec): Buffer {
  const lines = [`${r.method} ${r.path}${r.query} HTTP/1.1`, 'Host: fuzz'];
  if (r.contentType !== undefined) lines.push(`Content-Type: ${r.contentType}`);
  if (r.lengthHeader === 'auto') lines.push(`Content-Length: ${r.body.length}`);
  else if (r.lengthHeader !== 'none') lines.push(`Content-Length: ${r.lengthHeader}`);
  if (r.transferEncoding !== undefined) lines.push(`Transfer-Encoding: ${r.transferEncoding}`);
  if (r.authorization !== undefined) lines.push(`Authorization: ${r.authorization}`);
  lines.push('Connection: close', '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), r.body]);
}

interface RequestSpec {
  method: string;
  path: string;
  query: string;
  body: Buffer;
  contentType: string | undefined;
  lengthHeader: string;
  transferEncoding: string | undefined;
  authorization: string | undefined;
}

async function healthy(url: string): Promise<void> {
  const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(ANSWER_MS) });
  assert.equal(res.status, 200, 'the health check answers');
  await res.arrayBuffer();
}

async function fuzz(url: string, ms: number, token: string): Promise<number> {
  let runs = 0;
  let batch = 0;
  await fc.assert(
    fc.asyncProperty(requestOf(token), async (r) => {
      runs++;
      const out = await rawRequest(url, encode(r));
      if (out.status !== undefined)
        assert.ok(out.status < 500, `${r.method} ${r.path.slice(0, 100)}${r.query} answered ${out.status}`);
      if (++batch % 25 === 0) await healthy(url);
    }),
    { numRuns: 100_000, interruptAfterTimeLimit: ms },
  );
  await healthy(url);
  return runs;
}

async function fuzzFetch(url: string, ms: number, token: string): Promise<number> {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      path,
      query,
      body,
      contentType,
      fc.boolean(),
      async (m, p, q, b, ct, withToken) => {
        runs++;
        let target: URL;
        try {
          target = new URL(`${url}${p.startsWith('/') ? p : `/${p}`}${q}`);
        } catch {
          return; // fetch cannot even express it
        }
        const res = await fetch(target, {
          method: m,
          ...(m === 'GET' || m === 'DELETE' ? {} : { body: b }),
          headers: {
            ...(ct === undefined || /[^\t\x20-\x7e]/.test(ct) ? {} : { 'content-type': ct }),
            ...(withToken ? { authorization: `Bearer ${token}` } : {}),
          },
          signal: AbortSignal.timeout(ANSWER_MS),
        });
        const ctype = res.headers.get('content-type') ?? '';
        if (ctype.includes('event-stream') || ctype.includes('ndjson')) await res.body?.cancel();
        else await res.arrayBuffer();
        assert.ok(res.status < 500, `${m} ${target.pathname.slice(0, 100)} answered ${res.status}`);
      },
    ),
    { numRuns: 100_000, interruptAfterTimeLimit: ms },
  );
  await healthy(url);
  return runs;
}

describe('listener fuzz', () => {
  let server: TestServer;
  let imagesDir: string;
  let endpoint: AgentEndpoint;
  let runtime: ProcessRuntime;

  before(async () => {
    imagesDir = await mkdtemp(join(tmpdir(), 'dabba-fuzz-'));
    server = await startTestServer('fuzz', {
      images: await ImageStore.open(join(imagesDir, 'images'), { limits: { maxImageBytes: 1024 * 1024 } }),
    });
    runtime = new ProcessRuntime({ stateDir: join(imagesDir, 'runtime'), logger: silentLogger });
    endpoint = await startEndpoint(
      runtime,
      (id) => (id === 'known-task' ? { betweenRuns: false } : undefined),
      '127.0.0.1',
      0,
    );
  });

  after(async () => {
    try {
      await endpoint.close();
      await runtime.close();
      await server.close();
    } finally {
      await rm(imagesDir, { recursive: true, force: true });
    }
  });

  test('the agent endpoint: GET /v1/logs/%E0 and friends are 400, not a crash', async () => {
    for (const p of ['/v1/logs/%E0', '/v1/logs/%', '/v1/logs/%C0%AF']) {
      const out = await rawRequest(endpoint.url, Buffer.from(`GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`));
      assert.equal(out.status, 400, p);
    }
    const abs = await rawRequest(
      endpoint.url,
      Buffer.from('GET http://x:99999/ HTTP/1.1\r\nHost: x\r\n\r\n'),
    );
    assert.ok(abs.status === undefined || abs.status === 400, String(abs.status));
    await healthy(endpoint.url);
  });

  test('upgrade requests: refused with a 4xx where they do not belong or are malformed, never a crash', async () => {
    // With the admin token, so that the server's answers are about the upgrade, not the credentials.
    const up = (line: string, protocol = 'dabba-exec'): Buffer =>
      Buffer.from(
        `${line} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.adminToken}\r\n` +
          `Connection: Upgrade\r\nUpgrade: ${protocol}\r\n\r\n`,
      );
    const cases: [string, Buffer, number][] = [
      [server.server.url, up('GET /v1/jobs'), 400],
      [server.server.url, up('GET /v1/health'), 400],
      [server.server.url, up('POST /v1/tasks/nope-abcde/exec?command=sh&tty=1'), 404],
      [server.server.url, up('POST /v1/tasks/nope-abcde/exec'), 400],
      [server.server.url, up('POST /v1/tasks/nope-abcde/exec?command=sh', 'websocket'), 400],
      [endpoint.url, up('POST /v1/exec/%E0?command=sh'), 400],
      [endpoint.url, up('POST /v1/exec/known-task'), 400],
      [endpoint.url, up('POST /v1/exec/other-task?command=sh'), 404],
      [endpoint.url, up('GET /v1/exec/known-task?command=sh'), 405],
      [endpoint.url, up('GET /v1/logs/known-task'), 400],
    ];
    for (const [url, bytes, status] of cases) {
      const out = await rawRequest(url, bytes);
      assert.equal(out.status, status, bytes.toString('latin1').split('\r\n')[0]);
    }
    await healthy(server.server.url);
    await healthy(endpoint.url);
  });

  test('the server: an absolute request target with a bad port is a 400, not a crash', async () => {
    const out = await rawRequest(
      server.server.url,
      Buffer.from('GET http://x:99999/v1/jobs HTTP/1.1\r\nHost: x\r\n\r\n'),
    );
    assert.ok(out.status === undefined || out.status === 400, String(out.status));
    await healthy(server.server.url);
  });

  test('slow headers do not block other clients', async () => {
    const { hostname, port } = new URL(server.server.url);
    const slow = connect(Number(port), hostname);
    try {
      await new Promise<void>((r) => slow.once('connect', () => r()));
      slow.write('GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      await healthy(server.server.url);
    } finally {
      slow.destroy();
    }
  });

  test('random requests to the server: no crash, no hang, no 5xx', async () => {
    const token = server.adminToken;
    const runs =
      (await fuzz(server.server.url, 6000, token)) + (await fuzzFetch(server.server.url, 3000, token));
    assert.ok(runs > 50, `only ${runs} requests were sent`);
  });

  test('random requests to the agent endpoint: no crash, no hang, no 5xx', async () => {
    const token = server.adminToken;
    const runs = (await fuzz(endpoint.url, 4000, token)) + (await fuzzFetch(endpoint.url, 2000, token));
    assert.ok(runs > 50, `only ${runs} requests were sent`);
  });
});
