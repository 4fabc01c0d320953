/**
 * The mesh on a 4-host testbed (network namespaces, 2 racks, process runtime, a real HAProxy per
 * host run by each agent): front (2 tasks) calls back (3 tasks) by name and the calls spread over
 * every back task on several hosts; an undeclared service gets 403; `dabba mesh stats` asks every
 * host's agent and counts the calls per back task; calls to a back task on another host go through
 * that host's inbound side (two hops, mutual TLS), which refuses an undeclared caller with 403
 * (counted) and a connection without a cluster certificate; a rolling restart of back under
 * steady calls leaves every host's HAProxy as it was (same master and worker pids); killing one
 * host's HAProxy gets it started again; `mesh diff` on a changed timeout shows exactly that change,
 * and apply then rollback reach every host's proxy.
 * Needs root (network namespaces); DABBA_SKIP_NETNS=1 skips it.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { netnsUnavailable, startTestbed, type Testbed } from '../../scripts/testbed/index.ts';
import { runtimeCommand } from '../../src/mesh/host/index.ts';
import type { MeshStatsView, ServiceEndpoints } from '../../src/model/index.ts';
import { REPO, waitFor } from '../helpers/dev-cluster.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;
const EXAMPLE = join(REPO, 'examples', 'mesh');
/** The mesh's first port: each host's inbound side. */
const MESH_PORTS = 15_000;

function job(name: string, replicas: number, script: string, env: Record<string, string> = {}): string {
  return [
    `name: ${name}`,
    `replicas: ${String(replicas)}`,
    'task:',
    `  command: ['node', '${script}']`,
    `  env: ${JSON.stringify(env)}`,
    '  resources: { cpu: 0.1, memory: 64Mi, pids: 64 }',
    '  ports: [{ name: http, port: 8080 }]',
    '  health:',
    '    readiness: { http: { port: http, path: /healthz }, interval: 1s, timeout: 1s }',
    'update: { maxUnavailable: 1, maxSurge: 1, minHealthy: 1s, deadline: 3m, autoRollback: true }',
    'placement: { spread: [{ attribute: rack }] }',
    '',
  ].join('\n');
}

describe('the mesh on a 4-host testbed', { skip }, () => {
  let tb: Testbed;
  let frontUrls: string[] = [];

  const meshDir = (i: number): string => join(tb.hosts[i]?.dataDir ?? '', 'mesh');
  const masterPid = async (i: number): Promise<number> =>
    Number((await readFile(join(meshDir(i), 'haproxy.pid'), 'utf8')).trim().split('\n')[0]);
  const workerPid = async (i: number): Promise<string | undefined> =>
    /^Pid: (\d+)/m.exec(await runtimeCommand(join(meshDir(i), 'admin.sock'), 'show info'))?.[1];
  const config = (i: number): Promise<string> => readFile(join(meshDir(i), 'haproxy.cfg'), 'utf8');
  const endpoints = (name: string): Promise<ServiceEndpoints> =>
    tb.api<ServiceEndpoints>(`/v1/services/${name}/endpoints`);
  const call = async (url: string, path = '/call'): Promise<{ status: number; body: string }> => {
    const res = await fetch(url + path, { signal: AbortSignal.timeout(15_000) });
    return { status: res.status, body: await res.text() };
  };
  const everyHost = (fn: (i: number) => Promise<boolean>): Promise<boolean> =>
    Promise.all(tb.hosts.map((h) => fn(h.index))).then((all) => all.every(Boolean));

  before(async () => {
    const why = netnsUnavailable();
    if (why !== undefined) throw new Error(why);
    tb = await startTestbed({ hosts: 4, racks: 2, meshPorts: MESH_PORTS });
    const a = await tb.cli(['mesh', 'apply', join(EXAMPLE, 'deps.yaml'), '-m', 'front calls back']);
    assert.equal(a.code, 0, a.stderr);
    await waitFor(
      'every host proxy configured',
      () => everyHost(async (i) => (await config(i).catch(() => '')).includes('be_front__back')),
      60_000,
    );
    const back = tb.writeJob(
      'back',
      job('back', 3, join(REPO, 'examples', 'hello', 'server.mjs'), { GREETING: 'back' }),
    );
    const front = tb.writeJob('front', job('front', 2, join(EXAMPLE, 'front.mjs')));
    for (const f of [back, front]) {
      const d = await tb.cli(['deploy', f], { timeoutMs: 240_000 });
      assert.equal(d.code, 0, `${d.stdout}\n${d.stderr}\n${tb.logs(20)}`);
    }
    frontUrls = (await endpoints('front')).endpoints.map(
      (e) => `http://${e.address}:${String(e.ports['http'])}`,
    );
    assert.equal(frontUrls.length, 2);
  });
  after(async () => {
    await tb?.stop();
  });

  test('front calls back by name over every back task on several hosts; an undeclared service gets 403', async () => {
    const backs = (await endpoints('back')).endpoints;
    assert.equal(backs.length, 3);
    assert.ok(new Set(backs.map((e) => e.host)).size >= 2, 'back spreads over hosts');
    for (const url of frontUrls) {
      const seen = new Set<string>();
      await waitFor(
        `calls from ${url} reaching every back task`,
        async () => {
          const r = await call(url);
          assert.equal(r.status, 200, r.body);
          const task = /from (\S+) /.exec(r.body)?.[1];
          if (task !== undefined) seen.add(task);
          return backs.every((b) => seen.has(b.task));
        },
        60_000,
        20,
      );
      assert.equal((await call(url, '/call/cache')).status, 403);
    }
  });

  test('mesh stats: every host asked (over TLS, through its agent), the calls counted per back task', async () => {
    const backs = (await endpoints('back')).endpoints.map((e) => e.task).sort();
    const r = await tb.cli(['mesh', 'stats', 'back', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as MeshStatsView;
    assert.equal(v.hosts.length, 4, r.stdout);
    assert.ok(
      v.hosts.every((h) => h.ok),
      JSON.stringify(v.hosts),
    );
    const up = v.upstreams.find((u) => u.caller === 'front' && u.upstream === 'back');
    assert.ok(up !== undefined && up.requests > 0, r.stdout);
    const tasks = v.tasks.filter((t) => t.upstream === 'back');
    assert.deepEqual([...new Set(tasks.map((t) => t.task ?? ''))].sort(), backs);
    // A task's calls are counted by the caller's proxy (same host) or its host's inbound side.
    for (const b of backs)
      assert.ok(
        tasks.filter((t) => t.task === b).reduce((n, t) => n + t.requests, 0) > 0,
        `back task ${b} got calls`,
      );
  });

  test("two hops: every back task is reached from a front on another host through its host's inbound side (mutual TLS)", async () => {
    const backs = (await endpoints('back')).endpoints;
    const fronts = (await endpoints('front')).endpoints;
    // The fronts are on two racks, so each back task has a front on another host.
    assert.ok(backs.every((b) => fronts.some((f) => f.host !== b.host)));
    for (const i of tb.hosts.map((h) => h.index)) {
      const text = await config(i);
      assert.match(text, /frontend fe_inbound\n {2}bind \S+ ssl crt \S+ ca-file \S+ verify required/);
    }
    const r = await tb.cli(['mesh', 'stats', 'back', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as MeshStatsView;
    for (const b of backs) {
      const row = v.tasks.find((t) => t.caller === '_inbound' && t.task === b.task);
      assert.ok(
        row !== undefined && row.requests > 0,
        `${b.task} reached through the inbound side: ${r.stdout}`,
      );
    }
    const peers = await Promise.all(
      tb.hosts.map(
        async (h) =>
          (
            await runtimeCommand(join(meshDir(h.index), 'admin.sock'), 'show servers state be_front__back')
          ).match(/ peer_\S+ /g) ?? [],
      ),
    );
    assert.ok(
      peers.some((p) => p.length > 0),
      "front's backend reaches other hosts through their proxies",
    );
  });

  test("a host's inbound side: 403 for an undeclared caller (counted), and no connection without a cluster certificate", async () => {
    const back = (await endpoints('back')).endpoints[0];
    assert.ok(back !== undefined);
    const target = tb.hosts.find((h) => h.id === back.host);
    const other = tb.hosts.find((h) => h.id !== back.host);
    assert.ok(target !== undefined && other !== undefined);
    const read = (f: string): Promise<string> => readFile(join(other.dataDir, f), 'utf8');
    const [ca, cert, key] = await Promise.all([read('ca.crt'), read('host.crt'), read('host.key')]);
    const ask = (caller: string, tls: { cert?: string; key?: string }): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(
          {
            host: target.address,
            port: MESH_PORTS,
            path: '/',
            headers: { 'x-dabba-caller': caller, 'x-dabba-upstream': 'back' },
            ca,
            ...tls,
            timeout: 15_000,
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end();
      });
    assert.equal(await ask('front', { cert, key }), 200);
    assert.equal(await ask('cache', { cert, key }), 403);
    await assert.rejects(ask('front', {}));
    await waitFor(
      'the 403 for cache counted by mesh stats',
      async () => {
        const r = await tb.cli(['mesh', 'stats', '--json']);
        const v = JSON.parse(r.stdout) as MeshStatsView;
        return v.denied?.some((d) => d.caller === 'cache' && d.upstream === 'back' && d.side === 'inbound');
      },
      30_000,
    );
  });

  test('a rolling restart of back under steady calls: every HAProxy stays as it was', async () => {
    const masters = await Promise.all(tb.hosts.map((h) => masterPid(h.index)));
    const workers = await Promise.all(tb.hosts.map((h) => workerPid(h.index)));
    const old = (await endpoints('back')).endpoints.map((e) => e.task);
    let ok = 0;
    let failed = 0;
    let running = true;
    const load = (async () => {
      for (let n = 0; running; n++) {
        const url = frontUrls[n % frontUrls.length] ?? '';
        const r = await call(url).catch(() => ({ status: 0, body: '' }));
        if (r.status === 200) ok++;
        else failed++;
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    const r = await tb.cli(['restart', 'back'], { timeoutMs: 300_000 });
    running = false;
    await load;
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    console.log(`rolling restart of back through the mesh: ${String(ok)} answered, ${String(failed)} failed`);
    const now = (await endpoints('back')).endpoints.map((e) => e.task);
    assert.equal(now.length, 3);
    assert.ok(now.every((t) => !old.includes(t)));
    assert.ok(ok > 0);
    assert.deepEqual(await Promise.all(tb.hosts.map((h) => masterPid(h.index))), masters);
    assert.deepEqual(await Promise.all(tb.hosts.map((h) => workerPid(h.index))), workers);
    const seen = new Set<string>();
    await waitFor(
      'calls reaching every new back task',
      async () => {
        const x = await call(frontUrls[0] ?? '');
        const task = /from (\S+) /.exec(x.body)?.[1];
        if (task !== undefined) seen.add(task);
        return now.every((t) => seen.has(t));
      },
      60_000,
      20,
    );
  });

  test("killing a host's HAProxy gets it started again", async () => {
    const old = await masterPid(0);
    process.kill(old, 'SIGKILL');
    await waitFor(
      'a new HAProxy on host 0',
      async () => (await masterPid(0).catch(() => old)) !== old,
      60_000,
    );
  });

  test('mesh diff shows a changed timeout alone; apply and rollback reach every host', async () => {
    const changed = join(tb.stateDir, 'deps-slow.yaml');
    const text = await readFile(join(EXAMPLE, 'deps.yaml'), 'utf8');
    await writeFile(changed, text.replace('perTryTimeout: 1s', 'perTryTimeout: 2s'));
    const diff = await tb.cli(['mesh', 'diff', changed]);
    assert.equal(diff.stdout, '~ front upstreams.back.retries.perTryTimeout: 1s -> 2s\n');
    const a = await tb.cli(['mesh', 'apply', changed, '-m', 'slower back']);
    assert.equal(a.code, 0, a.stderr);
    await waitFor(
      'every host has timeout server 2000ms',
      () => everyHost(async (i) => (await config(i)).includes('timeout server 2000ms')),
      30_000,
    );
    const rb = await tb.cli(['mesh', 'rollback']);
    assert.equal(rb.code, 0, rb.stderr);
    await waitFor(
      'every host back at 1000ms',
      () => everyHost(async (i) => (await config(i)).includes('timeout server 1000ms')),
      30_000,
    );
    for (const url of frontUrls)
      await waitFor('calls after rollback', async () => (await call(url)).status === 200, 30_000);
  });
});
