/**
 * Containers end to end: `dabba dev` with the oci runtime (runc under conmon), driven through the CLI.
 * Liveness restarts, the agent's kill -9 and restart (same pid, logs continuing), bad input that
 * fails one task with a clear reason while the others run, and nothing left after stop.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobView } from '../../src/model/index.ts';
import { isAlive, waitFor, type DevCluster } from '../helpers/dev-cluster.ts';
import { destroyOciDev, ociForTests, startOciDev } from '../helpers/oci-dev.ts';

const { skip } = await ociForTests();

function job(name: string, body: string): string {
  return `name: ${name}\n${body}`;
}

describe('dabba dev with containers', { skip }, () => {
  let c: DevCluster;
  const file = (n: string): string => join(c.dataDir, `${n}.yaml`);

  // A task network of its own: the README test's `npm start` runs beside it on the default one.
  let network = '';
  before(async () => {
    ({ c, network } = await startOciDev());
  });
  after(async () => {
    await destroyOciDev(c, network);
  });

  async function status(name: string): Promise<JobView> {
    const r = await c.cli(['status', name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as JobView;
  }

  test('two replicas of the hello image answer on the same port at their own addresses', async () => {
    await writeFile(
      file('web'),
      job(
        'web',
        `replicas: 2
task:
  image: hello
  command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
  env: { GREETING: "contained" }
  resources: { cpu: 0.1, memory: 32Mi, pids: 32 }
  ports: [{ name: http, port: 8080 }]
  health:
    liveness: { exec: { command: ["sh", "-c", "test ! -f /tmp/sick"] }, interval: 500ms, timeout: 10s, failures: 2 }
    readiness: { http: { port: http, path: / }, interval: 500ms }
  restart: { policy: always, backoff: 200ms }
  stopGracePeriod: 2s
update: { minHealthy: 500ms }
`,
      ),
    );
    const r = await c.cli(['deploy', file('web')]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${c.log}`);
    const v = await status('web');
    const addrs = new Set<string>();
    for (const t of v.tasks) {
      assert.equal(t.state, 'running');
      assert.equal(t.ports['http'], 8080);
      assert.ok(t.address && /^10\./.test(t.address), `private address ${t.address}`);
      addrs.add(t.address);
      // Ready means it answered; under load a probe may still restart it meanwhile, so ask until it answers.
      const url = `http://${t.address}:8080/`;
      const body = await waitFor(`${t.id} answers`, () =>
        fetch(url)
          .then((r) => r.text())
          .catch(() => undefined),
      );
      assert.match(body, new RegExp(`contained from ${t.id}`));
      assert.ok(t.pid !== null && isAlive(t.pid), 'host pid of the container process');
    }
    assert.equal(addrs.size, 2);
  });

  test('a failing liveness probe restarts the container', async () => {
    const before = (await status('web')).tasks[0];
    assert.ok(before?.pid);
    // Make the probe fail from inside the container's filesystem.
    await writeFile(`/proc/${before.pid}/root/tmp/sick`, '1');
    const after = await waitFor('liveness restart', async () => {
      const t = (await status('web')).tasks.find((x) => x.id === before.id);
      return t && t.state === 'running' && t.healthy && t.restarts > before.restarts ? t : undefined;
    });
    assert.notEqual(after.pid, before.pid);
    assert.match((await c.cli(['status', 'web'])).stdout, /web-/);
  });

  test('kill -9 of the agent and a restart: same pid, logs continue', async () => {
    await writeFile(
      file('ticker'),
      job(
        'ticker',
        `task:
  image: busybox
  command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]
  resources: { memory: 16Mi, pids: 16 }
update: { minHealthy: 0s }
`,
      ),
    );
    assert.equal((await c.cli(['deploy', file('ticker')])).code, 0);
    const before = (await status('ticker')).tasks[0];
    assert.ok(before?.pid);
    await waitFor('first ticks', async () => /tick 3/.test((await c.cli(['logs', before.id])).stdout));
    await c.kill9();
    assert.ok(isAlive(before.pid), 'the container outlives the agent');
    await new Promise((r) => setTimeout(r, 1000));
    await c.boot('oci');
    const after = await waitFor('adopted', async () => {
      const t = (await status('ticker')).tasks.find((x) => x.id === before.id);
      return t?.state === 'running' && t.reason === 'Adopted' ? t : undefined;
    });
    assert.equal(after.pid, before.pid);
    const lines = (await c.cli(['logs', before.id, '--timestamps'])).stdout.trim().split('\n');
    const ticks = lines.map((l) => Number(/tick (\d+)/.exec(l)?.[1] ?? -1));
    assert.ok(ticks.length > 8, `logs continued through the restart (${ticks.length} lines)`);
    assert.deepEqual(
      ticks,
      ticks.map((_, i) => i),
      'no line lost or repeated',
    );
    assert.match(lines[0] ?? '', /^\d{4}-\d\d-\d\dT\S+ stdout tick 0$/);
  });

  test('Ctrl-C (SIGTERM) of dabba dev with probed containers running: it exits; after longer than the host timeout they still run and are adopted', async () => {
    const before = (await status('web')).tasks;
    assert.ok(before.length === 2 && before.every((t) => t.state === 'running' && t.pid !== null));
    // stop() fails the test when the process does not exit within 10 s (probe timers kept it alive).
    await c.stop();
    for (const t of before) assert.ok(t.pid !== null && isAlive(t.pid), `${t.id} outlives dabba dev`);
    // Down for longer than the host timeout (10 s): the host's liveness lease gets a full TTL again
    // when the store reopens, so the agent comes back before its tasks could be taken as lost.
    await new Promise((r) => setTimeout(r, 11_000));
    await c.boot('oci');
    const after = await waitFor('adopted after a graceful stop', async () => {
      const ts = (await status('web')).tasks;
      return ts.length === 2 && ts.every((t) => t.state === 'running' && t.reason === 'Adopted')
        ? ts
        : undefined;
    });
    assert.deepEqual(
      after.map((t) => [t.id, t.pid]).sort(),
      before.map((t) => [t.id, t.pid]).sort(),
      'the same tasks with the same pids',
    );
  });

  test('an unknown image is refused at deploy; a missing command and too little memory fail with a clear reason; others run on', async () => {
    await writeFile(
      file('noimage'),
      job(
        'noimage',
        'task:\n  image: no-such-image\n  command: ["sh"]\nupdate: { deadline: 5s, minHealthy: 0s }\n',
      ),
    );
    const refused = await c.cli(['deploy', file('noimage'), '--detach']);
    assert.equal(refused.code, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /image "no-such-image" .* is not on the server/);
    assert.equal((await c.api('GET', '/v1/jobs/noimage')).status, 404, 'nothing stored');
    const cases: [string, string, RegExp][] = [
      ['nocmd', 'image: busybox\n  command: ["/bin/not-here"]', /CommandNotFound/],
      [
        'tiny',
        // runc cannot even start in 1 MiB (StartFailed); crun can, and then the task itself grows
        // (tail keeps its current line, and /dev/zero has no newline) until it is OOMKilled. (A shell
        // that makes a child allocate may see only the child killed, and run on.)
        'image: busybox\n  command: ["tail", "/dev/zero"]\n  resources: { memory: 1Mi }',
        /StartFailed|OOMKilled/,
      ],
    ];
    for (const [name, task] of cases) {
      await writeFile(file(name), job(name, `task:\n  ${task}\nupdate: { deadline: 5s, minHealthy: 0s }\n`));
      const r = await c.cli(['deploy', file(name), '--detach']);
      assert.equal(r.code, 0, r.stderr);
    }
    for (const [name, , reason] of cases) {
      const why = await waitFor(`${name} fails`, async () => {
        const row = (await status(name)).tasks[0];
        // Between a failure and its restart the row says why; once restarted, its last exit does.
        if (row?.state === 'failed' && row.reason !== null) return `${row.reason}: ${row.message}`;
        return row?.lastExit ? `${row.lastExit.reason}: exit ${row.lastExit.exitCode}` : undefined;
      });
      assert.match(why, reason, `${name}: ${why}`);
    }
    const health = await c.api('GET', '/v1/health');
    assert.equal(health.status, 200);
    const hosts = (await c.api('GET', '/v1/hosts')).body as { state: string }[];
    assert.equal(hosts[0]?.state, 'ready', 'the agent stays healthy');
    const web = await status('web');
    assert.ok(
      web.tasks.every((t) => t.state === 'running' && t.healthy),
      'other tasks are untouched',
    );
    for (const [name] of cases) assert.equal((await c.cli(['stop', name])).code, 0);
  });

  test('after dabba stop nothing is left: no container, cgroup, mount, netns or veth', async () => {
    const pids = [...(await status('web')).tasks, ...(await status('ticker')).tasks].map((t) => t.pid);
    for (const name of ['web', 'ticker']) {
      const r = await c.cli(['stop', name]);
      assert.equal(r.code, 0, r.stderr);
    }
    for (const pid of pids) assert.ok(pid !== null && !isAlive(pid), `pid ${pid} gone`);
    const stateDir = join(c.dataDir, 'agent', 'runtime', 'oci');
    const { execFileSync } = await import('node:child_process');
    const list = execFileSync('runc', ['--root', join(stateDir, 'runtime'), 'list', '-q'])
      .toString()
      .trim();
    assert.equal(list, '', 'no container in runc list');
    const mounts = (await import('node:fs')).readFileSync('/proc/self/mountinfo', 'utf8');
    const left = mounts.split('\n').filter((l) => l.includes(c.dataDir));
    assert.deepEqual(left, [], 'no mount under the data dir');
    const netns = execFileSync('ip', ['netns', 'list']).toString();
    for (const id of ['web', 'ticker']) assert.ok(!netns.includes(`${id}-`), `no netns of ${id}`);
  });
});
