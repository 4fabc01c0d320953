/**
 * Discovery and the dependency file on a real `dabba dev` (server, agent, process runtime): a
 * service's endpoints are its running, ready tasks; the endpoints watch sees a scale-down; a viewer
 * of one namespace sees only its services; `dabba mesh diff/apply/history/rollback` store versions
 * with author and message and show exactly what changes; bad input gets line:column errors.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import { DabbaError } from '../../src/errors/index.ts';
import type { ServiceEndpoints } from '../../src/model/index.ts';
import { DevCluster, REPO, waitFor } from '../helpers/dev-cluster.ts';

const HELLO = join(REPO, 'examples', 'hello', 'job.yaml');

describe('mesh discovery and dependency file', () => {
  let c: DevCluster;
  let admin: DabbaClient;

  before(async () => {
    c = await DevCluster.start();
    admin = new DabbaClient({ addr: c.url, token: await c.adminToken() });
    const d = await c.cli(['deploy', HELLO], { timeoutMs: 180_000 });
    assert.equal(d.code, 0, d.stderr + d.stdout);
  });
  after(async () => {
    await c.destroy();
  });

  test('endpoints are the running, ready tasks with their address and ports; the watch sees a scale-down', async () => {
    const e = await waitFor('3 endpoints', async () => {
      const r = await admin.serviceEndpoints('hello');
      return r.endpoints.length === 3 ? r : undefined;
    });
    const tasks = (await admin.jobTasks('hello')).filter((t) => t.state === 'running' && t.ready);
    assert.deepEqual(
      e.endpoints.map((x) => x.task),
      tasks.map((t) => t.id).sort(),
    );
    for (const x of e.endpoints) {
      const t = tasks.find((y) => y.id === x.task);
      assert.equal(x.address, t?.address);
      assert.deepEqual(x.ports, t?.ports);
      assert.ok(typeof x.ports['http'] === 'number');
      const res = await fetch(`http://${x.address}:${String(x.ports['http'])}/healthz`);
      assert.equal(res.status, 200);
    }
    const list = await admin.services();
    assert.deepEqual(
      list.find((s) => s.service === 'hello'),
      { service: 'hello', namespace: 'default', ports: ['http'], replicas: 3, ready: 3 },
    );

    const ac = new AbortController();
    const seen: ServiceEndpoints[] = [];
    const watching = (async () => {
      for await (const v of admin.watchServiceEndpoints('hello', ac.signal)) {
        seen.push(v);
        if (v.endpoints.length === 2) break;
      }
    })();
    await waitFor('the first watch message', () => seen.length > 0);
    assert.equal(seen[0]?.endpoints.length, 3);
    const s = await c.cli(['scale', 'hello', '2', '--detach']);
    assert.equal(s.code, 0, s.stderr);
    // The timer is cleared once the watch ends: left pending, it held the file's process for 2 minutes.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      watching,
      new Promise((_, rej) => {
        timer = setTimeout(() => rej(new Error('watch saw no scale-down')), 120_000);
      }),
    ]).finally(() => clearTimeout(timer));
    ac.abort();
    const last = seen.at(-1);
    assert.equal(last?.endpoints.length, 2);
    // Every message in between differs from the one before (no repeats of the same set).
    for (let i = 1; i < seen.length; i++) assert.notDeepEqual(seen[i]?.endpoints, seen[i - 1]?.endpoints);

    const cliOut = await c.cli(['services', 'hello', '--json']);
    assert.equal(cliOut.code, 0, cliOut.stderr);
    assert.equal((JSON.parse(cliOut.stdout) as ServiceEndpoints).endpoints.length, 2);
    const table = await c.cli(['services']);
    assert.match(table.stdout, /^hello\s+default\s+2\/2\s+http$/m);
  });

  test('a viewer of namespace a sees its services only', async () => {
    await admin.createNamespace('mesh-a');
    const tok = await admin.createToken({ name: 'view-a', role: 'viewer', namespaces: ['mesh-a'] });
    const viewer = new DabbaClient({ addr: c.url, token: tok.token, namespace: 'mesh-a' });
    assert.deepEqual(await viewer.services(), []);
    const refused = await viewer
      .with({ namespace: 'default' })
      .serviceEndpoints('hello')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(refused instanceof DabbaError);
    assert.equal(refused.code, 'DABBA_E_FORBIDDEN');
    const missing = await viewer.serviceEndpoints('hello').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(missing instanceof DabbaError);
    assert.equal(missing.code, 'DABBA_E_NOT_FOUND');
    // The dependency file is the cluster's: readable by a viewer, written only by an admin.
    const write = await viewer.meshApply({ services: {} }, 'try').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(write instanceof DabbaError);
    assert.equal(write.code, 'DABBA_E_FORBIDDEN');
  });

  test('mesh apply, diff, history and rollback; bad input gets line:column', async () => {
    const v1 = join(c.dataDir, 'deps-v1.yaml');
    const v2 = join(c.dataDir, 'deps-v2.yaml');
    const bad = join(c.dataDir, 'deps-bad.yaml');
    await writeFile(
      v1,
      [
        'services:',
        '  front:',
        '    upstreams:',
        '      back: { timeout: 3s, connectTimeout: 250ms, retries: { on: [connect-failure, "503"], max: 2, perTryTimeout: 1s } }',
        '    expose: 8080',
        '  back:',
        '    inbound: { maxConcurrency: 64, queueTimeout: 100ms }',
        '    upstreams: {}',
        '',
      ].join('\n'),
    );
    await writeFile(
      v2,
      (await import('node:fs/promises').then((f) => f.readFile(v1, 'utf8'))).replace(
        'timeout: 3s',
        'timeout: 5s',
      ),
    );
    await writeFile(
      bad,
      'services:\n  front:\n    upstreams:\n      back: { timeout: 5, retries: { max: 20 } }\n',
    );

    const first = await c.cli(['mesh', 'diff', v1]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^\+ back \(new service\)$/m);
    assert.match(first.stdout, /^\+ front \(new service\)$/m);

    const a1 = await c.cli(['mesh', 'apply', v1, '--message', 'first cut']);
    assert.equal(a1.code, 0, a1.stderr);
    assert.match(a1.stdout, /version 1 stored/);

    const diff = await c.cli(['mesh', 'diff', v2, '--json']);
    assert.equal(diff.code, 0, diff.stderr);
    assert.deepEqual(JSON.parse(diff.stdout), [
      { service: 'front', setting: 'upstreams.back.timeout', kind: 'changed', from: '3s', to: '5s' },
    ]);
    const human = await c.cli(['mesh', 'diff', v2]);
    assert.equal(human.stdout, '~ front upstreams.back.timeout: 3s -> 5s\n');

    const a2 = await c.cli(['mesh', 'apply', v2, '-m', 'slower back']);
    assert.equal(a2.code, 0, a2.stderr);
    const again = await c.cli(['mesh', 'apply', v2, '-m', 'same again']);
    assert.match(again.stdout, /unchanged: version 2 is current/);

    const noMessage = await c.cli(['mesh', 'apply', v2]);
    assert.notEqual(noMessage.code, 0);

    const badOut = await c.cli(['mesh', 'diff', bad]);
    assert.equal(badOut.code, 2);
    assert.match(
      badOut.stderr,
      /deps-bad\.yaml:4:24: services\.front\.upstreams\.back\.timeout: needs a unit/,
    );
    assert.match(
      badOut.stderr,
      /deps-bad\.yaml:4:43: services\.front\.upstreams\.back\.retries\.max: must be at most 10/,
    );

    const rb = await c.cli(['mesh', 'rollback']);
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(rb.stdout, /version 3 restores version 1/);
    const current = await admin.mesh();
    assert.equal(current?.version, 3);
    assert.equal(current?.config.services['front']?.upstreams['back']?.timeoutMs, 3000);

    const history = await admin.meshVersions();
    assert.deepEqual(
      history.map((h) => [h.version, h.message, h.restores ?? null]),
      [
        [1, 'first cut', null],
        [2, 'slower back', null],
        [3, 'rollback to version 1', 1],
      ],
    );
    assert.ok(history.every((h) => h.author.length > 0));
    const hist = await c.cli(['mesh', 'history']);
    assert.match(hist.stdout, /^2\s+\S+\s+.*slower back$/m);
    const to2 = await c.cli(['mesh', 'rollback', '--to', '2']);
    assert.match(to2.stdout, /version 4 restores version 2/);
  });
});
