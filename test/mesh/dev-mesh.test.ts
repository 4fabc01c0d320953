/**
 * The mesh end to end on a real `dabba dev --mesh-ports` (server, agent, process runtime, real
 * HAProxy run by the agent): front calls back by name through the proxy and its calls spread over
 * every back task; a call to an undeclared service gets 403; a rolling restart of back changes the
 * endpoints without restarting or reloading HAProxy; killing HAProxy gets it started again; a
 * changed connect timeout applied with `dabba mesh apply` reaches the proxy's config, and
 * `dabba mesh rollback` restores it.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import { runtimeCommand } from '../../src/mesh/host/index.ts';
import type { MeshStatsView } from '../../src/model/index.ts';
import { DevCluster, REPO, waitFor } from '../helpers/dev-cluster.ts';
import { freePortBlock } from '../helpers/ports.ts';

const EXAMPLE = join(REPO, 'examples', 'mesh');
// Proxy ports below the ephemeral range, checked free (test/helpers/ports.ts).
const BASE = await freePortBlock(64);

describe('the mesh on dabba dev', () => {
  let c: DevCluster;
  let admin: DabbaClient;
  let meshDir: string;
  let frontUrl: string;

  const proxyPid = async (): Promise<number> =>
    Number((await readFile(join(meshDir, 'haproxy.pid'), 'utf8')).trim().split('\n')[0]);
  const workerPid = async (): Promise<string | undefined> =>
    /^Pid: (\d+)/m.exec(await runtimeCommand(join(meshDir, 'admin.sock'), 'show info'))?.[1];
  const call = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(frontUrl + path, { signal: AbortSignal.timeout(15_000) });
    return { status: res.status, body: await res.text() };
  };
  const backTasks = async (): Promise<string[]> =>
    (await admin.serviceEndpoints('back')).endpoints.map((e) => e.task).sort();

  before(async () => {
    c = await DevCluster.start({ args: ['--mesh-ports', String(BASE)] });
    meshDir = join(c.dataDir, 'agent', 'mesh');
    admin = new DabbaClient({ addr: c.url, token: await c.adminToken() });
    const a = await c.cli(['mesh', 'apply', join(EXAMPLE, 'deps.yaml'), '-m', 'front calls back']);
    assert.equal(a.code, 0, a.stderr);
    // The agent has the file (its proxy's config is written) before front's tasks start.
    await waitFor(
      'the proxy config',
      async () => (await readFile(join(meshDir, 'haproxy.cfg'), 'utf8')).includes('be_front__back'),
      60_000,
    );
    for (const f of ['back.yaml', 'front.yaml']) {
      const d = await c.cli(['deploy', join(EXAMPLE, f)], { timeoutMs: 240_000 });
      assert.equal(d.code, 0, d.stderr + d.stdout);
    }
    const fe = (await admin.serviceEndpoints('front')).endpoints[0];
    assert.ok(fe);
    frontUrl = `http://${fe.address}:${String(fe.ports['http'])}`;
  });
  after(async () => {
    try {
      const pid = await proxyPid().catch(() => undefined);
      if (pid !== undefined) process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    } finally {
      await c.destroy();
    }
  });

  test('front calls back by name; calls spread over all back tasks; an undeclared service gets 403', async () => {
    const tasks = await backTasks();
    assert.equal(tasks.length, 3);
    const seen = new Set<string>();
    await waitFor(
      'calls reaching every back task',
      async () => {
        const r = await call('/call');
        assert.equal(r.status, 200, r.body);
        const task = /from (\S+) /.exec(r.body)?.[1];
        if (task !== undefined) seen.add(task);
        return tasks.every((t) => seen.has(t));
      },
      60_000,
      50,
    );
    assert.equal((await call('/call/back')).status, 200);
    const refused = await call('/call/cache');
    assert.equal(refused.status, 403);
  });

  test('mesh stats: the calls counted per upstream and per task; the same in the telemetry store', async () => {
    const tasks = await backTasks();
    const calls = 20;
    for (let i = 0; i < calls; i++) assert.equal((await call('/call')).status, 200);
    const r = await c.cli(['mesh', 'stats', 'back', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as MeshStatsView;
    assert.equal(v.service, 'back');
    assert.deepEqual(v.hosts, [{ host: v.hosts[0]?.host, ok: true }]);
    const up = v.upstreams.find((u) => u.caller === 'front' && u.upstream === 'back');
    assert.ok(up, r.stdout);
    assert.ok(up.requests >= calls, `${String(up.requests)} requests counted, ${String(calls)} made`);
    assert.equal(up.responses['2xx'], up.requests);
    assert.ok(up.latency.count >= calls);
    const perTask = v.tasks.filter((t) => t.caller === 'front' && t.upstream === 'back');
    assert.deepEqual(perTask.map((t) => t.task).sort(), tasks);
    assert.equal(
      perTask.reduce((n, t) => n + t.requests, 0),
      up.requests,
      'the tasks add up to the upstream',
    );
    const text = await c.cli(['mesh', 'stats']);
    assert.match(text.stdout, /^CALLER +UPSTREAM +TASK +REQUESTS/);
    assert.match(text.stdout, /^front +back +\* +\d+/m);
    // The agent ships the same counters with its next collection.
    await waitFor(
      'mesh_upstream_requests_total in the telemetry store',
      async () => {
        const m = await admin.queryMetrics({
          name: 'mesh_upstream_requests_total',
          where: ['caller=front', 'upstream=back'],
          since: '5m',
        });
        const last = m.series[0]?.points.at(-1);
        return last !== undefined && last[1] >= calls;
      },
      90_000,
      1000,
    );
  });

  test('a rolling restart of back: new endpoints, the same HAProxy (no restart, no reload)', async () => {
    const master = await proxyPid();
    const worker = await workerPid();
    const before = await backTasks();
    const r = await c.cli(['restart', 'back'], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const after = await waitFor('3 new back endpoints', async () => {
      const now = await backTasks();
      return now.length === 3 && now.every((t) => !before.includes(t)) ? now : undefined;
    });
    const seen = new Set<string>();
    await waitFor(
      'calls reaching every new back task',
      async () => {
        const res = await call('/call');
        const task = /from (\S+) /.exec(res.body)?.[1];
        if (res.status === 200 && task !== undefined) seen.add(task);
        return after.every((t) => seen.has(t));
      },
      60_000,
      50,
    );
    assert.ok([...seen].every((t) => after.includes(t) || before.includes(t)));
    assert.equal(await proxyPid(), master);
    assert.equal(await workerPid(), worker);
  });

  test('killing HAProxy gets it started again', async () => {
    const old = await proxyPid();
    process.kill(old, 'SIGKILL');
    await waitFor('a new HAProxy', async () => (await proxyPid()) !== old, 60_000);
    await waitFor('calls through it', async () => (await call('/call')).status === 200, 60_000);
  });

  test('mesh apply of a changed connect timeout reaches the proxy; rollback restores it', async () => {
    const changed = join(c.dataDir, 'deps-slow.yaml');
    await writeFile(
      changed,
      (await readFile(join(EXAMPLE, 'deps.yaml'), 'utf8')).replace(
        'connectTimeout: 250ms',
        'connectTimeout: 750ms',
      ),
    );
    const diff = await c.cli(['mesh', 'diff', changed]);
    assert.equal(diff.stdout, '~ front upstreams.back.connectTimeout: 250ms -> 750ms\n');
    const a = await c.cli(['mesh', 'apply', changed, '-m', 'slower connects']);
    assert.equal(a.code, 0, a.stderr);
    const cfg = join(meshDir, 'haproxy.cfg');
    await waitFor(
      '750ms in the config',
      async () => (await readFile(cfg, 'utf8')).includes('timeout connect 750ms'),
      30_000,
    );
    assert.equal((await call('/call')).status, 200);
    const rb = await c.cli(['mesh', 'rollback']);
    assert.equal(rb.code, 0, rb.stderr);
    await waitFor(
      '250ms in the config again',
      async () => (await readFile(cfg, 'utf8')).includes('timeout connect 250ms'),
      30_000,
    );
    await waitFor('calls after the rollback', async () => (await call('/call')).status === 200, 30_000);
  });
});
