/**
 * The core journey end to end, through the real CLI against a real `dabba dev` (process runtime):
 * deploy, self-healing (crash and liveness), rolling update under a budget, restart of the control
 * plane with kill -9, and stop.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobView, TaskRow } from '../../src/model/index.ts';
import { DevCluster, REPO, getText, isAlive, waitFor } from '../helpers/dev-cluster.ts';

const HELLO = join(REPO, 'examples', 'hello');

function jobYaml(greeting: string): string {
  return `name: hello
replicas: 3
task:
  command: ["node", "server.mjs"]
  workingDir: ${HELLO}
  env: { GREETING: "${greeting}" }
  resources: { cpu: 0.1, memory: 64Mi, pids: 64 }
  ports: [{ name: http, port: 8080 }]
  health:
    liveness: { http: { port: http, path: /healthz }, interval: 500ms, timeout: 1s, failures: 2 }
    readiness: { http: { port: http, path: /healthz }, interval: 500ms, timeout: 1s }
  restart: { policy: always, backoff: 200ms, maxBackoff: 2s }
  stopGracePeriod: 3s
update: { maxUnavailable: 1, maxSurge: 1, minHealthy: 1s, deadline: 1m }
`;
}

describe('dabba dev end to end (process runtime)', () => {
  let c: DevCluster;
  let jobFile: string;

  before(async () => {
    c = await DevCluster.start();
    jobFile = join(c.dataDir, 'hello.yaml');
    await writeFile(jobFile, jobYaml('hi'));
  });
  after(async () => {
    await c.destroy();
  });

  async function status(): Promise<JobView> {
    const r = await c.cli(['status', 'hello', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as JobView;
  }
  const live = (v: JobView): TaskRow[] => v.tasks.filter((t) => t.desired === 'run' && t.state === 'running');

  test('deploy 3 replicas: 3 running and healthy, each answering HTTP', async () => {
    const r = await c.cli(['deploy', jobFile]);
    assert.equal(r.code, 0, `deploy failed: ${r.stdout}\n${r.stderr}\n${c.log}`);
    assert.match(r.stdout, /is healthy: 3\/3/);
    const v = await status();
    assert.equal(v.job, 'hello');
    assert.equal(v.version, 1);
    assert.equal(v.replicas, 3);
    assert.equal(v.tasks.length, 3);
    const ports = new Set<number>();
    for (const t of v.tasks) {
      assert.equal(t.state, 'running');
      assert.equal(t.healthy, true);
      assert.equal(t.version, 1);
      assert.ok(t.pid !== null && isAlive(t.pid), `pid ${t.pid} alive`);
      assert.ok(t.address);
      const port = t.ports['http'];
      assert.ok(port);
      ports.add(port);
      const body = await getText(`http://${t.address}:${port}/`);
      assert.match(body, new RegExp(`hi from ${t.id}`));
    }
    assert.equal(ports.size, 3, 'each replica has its own host port');
  });

  test('a killed task process is restarted and its restart count rises', async () => {
    const v = await status();
    const victim = v.tasks[0];
    assert.ok(victim?.pid);
    process.kill(victim.pid, 'SIGKILL');
    const after = await waitFor('restart', async () => {
      const t = (await status()).tasks.find((x) => x.id === victim.id);
      return t && t.state === 'running' && t.healthy && t.restarts > victim.restarts && t.pid !== victim.pid
        ? t
        : undefined;
    });
    assert.ok(after.restarts >= victim.restarts + 1);
  });

  test('a liveness check that starts failing restarts the task', async () => {
    const v = await status();
    const victim = v.tasks[1];
    assert.ok(victim?.address && victim.ports['http']);
    await fetch(`http://${victim.address}:${victim.ports['http']}/fail`, { method: 'POST' });
    const after = await waitFor('liveness restart', async () => {
      const t = (await status()).tasks.find((x) => x.id === victim.id);
      return t && t.state === 'running' && t.healthy && t.restarts > victim.restarts ? t : undefined;
    });
    assert.notEqual(after.pid, victim.pid);
  });

  test('redeploy with a changed env replaces every task, never below replicas - maxUnavailable', async () => {
    await writeFile(jobFile, jobYaml('hello again'));
    const before = await status();
    let minHealthy = Infinity;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const v = await status();
        minHealthy = Math.min(minHealthy, live(v).filter((t) => t.healthy).length);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const r = await c.cli(['deploy', jobFile]);
    sampling = false;
    await sampler;
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const v = await status();
    assert.equal(v.version, 2);
    const running = live(v);
    assert.equal(running.length, 3);
    for (const t of running) {
      assert.equal(t.version, 2);
      assert.ok(!before.tasks.some((b) => b.id === t.id), 'every task was replaced');
      const body = await getText(`http://${t.address}:${t.ports['http']}/`);
      assert.match(body, /hello again/);
    }
    assert.ok(minHealthy >= 2, `healthy tasks never dropped below 2 (saw ${minHealthy})`);
  });

  test('a bad version is rolled back automatically; deploy exits 1 and clients keep answers', async () => {
    const bad = join(c.dataDir, 'bad.yaml');
    await writeFile(
      bad,
      jobYaml('broken').replace(
        'command: ["node", "server.mjs"]',
        'command: ["node", "-e", "process.exit(3)"]',
      ),
    );
    const r = await c.cli(['deploy', bad]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /rollback|rolled back|failed/);
    const v = await waitFor('rollback settled', async () => {
      const s = await status();
      const l = live(s);
      return s.version === 4 && l.length === 3 && l.every((t) => t.healthy) ? s : undefined;
    });
    for (const t of live(v)) {
      const body = await getText(`http://${t.address}:${t.ports['http']}/`);
      assert.match(body, /hello again/, 'the good version serves');
    }
    const history = await c.cli(['history', 'hello', '--json']);
    const rows = JSON.parse(history.stdout) as { version: number; deployment: string | null }[];
    assert.equal(rows.find((x) => x.version === 3)?.deployment, 'failed');
  });

  test('dabba rollback --to goes back to an earlier spec', async () => {
    const r = await c.cli(['rollback', 'hello', '--to', '1']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const v = await status();
    assert.equal(v.version, 5);
    for (const t of live(v)) {
      const body = await getText(`http://${t.address}:${t.ports['http']}/`);
      assert.match(body, /^hi from/);
    }
    const again = await c.cli(['rollback', 'hello', '--to', '1']);
    assert.equal(again.code, 5, 'rolling back to the spec already running is a conflict');
  });

  test('kill -9 of dev and a restart: the same tasks, same pids, no duplicates', async () => {
    const before = await status();
    await c.kill9();
    for (const t of before.tasks)
      assert.ok(t.pid !== null && isAlive(t.pid), 'tasks outlive the dev process');
    await c.boot();
    // Give the new agent time to adopt and the scheduler to run several passes.
    await new Promise((r) => setTimeout(r, 3000));
    const after = await waitFor('tasks adopted', async () => {
      const v = await status();
      return live(v).length === 3 && v.tasks.every((t) => t.healthy) ? v : undefined;
    });
    assert.deepEqual(
      after.tasks.map((t) => [t.id, t.pid]).sort(),
      before.tasks.map((t) => [t.id, t.pid]).sort(),
    );
    assert.equal(after.tasks.length, 3);
  });

  test('stop: no task process is left', async () => {
    const before = await status();
    const found = await c.processes();
    for (const t of before.tasks)
      assert.ok(t.pid !== null && found.includes(t.pid), 'the cluster finds its task processes');
    const r = await c.cli(['stop', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stopped: no tasks left/);
    for (const t of before.tasks) {
      assert.ok(t.pid !== null);
      await waitFor(`pid ${t.pid} gone`, () => Promise.resolve(!isAlive(t.pid ?? 0)), 10_000);
    }
    // The process runtime's log writer exits by itself once the last task's output has ended.
    const only = c.proc?.pid === undefined ? [] : [c.proc.pid];
    await waitFor(
      'only the dev process itself remains',
      async () => (JSON.stringify(await c.processes()) === JSON.stringify(only) ? true : undefined),
      10_000,
    );
    const v = await status();
    assert.equal(v.status, 'stopped');
    assert.equal(v.tasks.length, 0);
  });

  test('stop --purge: the job leaves status; its name deploys again as version 1', async () => {
    const r = await c.cli(['stop', 'hello', '--purge']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /job hello purged: \d+ versions and \d+ deployments? removed/);
    const list = await c.cli(['status']);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, /hello/);
    const gone = await c.cli(['status', 'hello']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /hello/);

    // Again, now with a tcp port beside the http one: deploy prints tcp:// for it.
    await writeFile(
      jobFile,
      jobYaml('again').replace(
        'ports: [{ name: http, port: 8080 }]',
        'ports: [{ name: http, port: 8080 }, { name: cache, port: 6379 }]',
      ),
    );
    const d = await c.cli(['deploy', jobFile]);
    assert.equal(d.code, 0, `deploy failed: ${d.stdout}\n${d.stderr}`);
    assert.match(d.stdout, /job hello version 1 is healthy/);
    assert.match(d.stdout, /^ {2}http: http:\/\/127\.0\.0\.1:\d+ {2}\(hello-/m);
    assert.match(d.stdout, /^ {2}cache: tcp:\/\/127\.0\.0\.1:\d+ {2}\(hello-/m);
    assert.doesNotMatch(d.stdout, /cache: http:/);
    const v = await status();
    assert.equal(v.version, 1);

    // Purging a job that still runs stops it, waits for its tasks, then purges.
    const p = await c.cli(['stop', 'hello', '--purge']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /stopped: no tasks left\njob hello purged: 1 version and 1 deployment removed/);
    for (const t of v.tasks)
      await waitFor(`pid ${t.pid} gone`, () => Promise.resolve(!isAlive(t.pid ?? 0)), 10_000);
  });
});
