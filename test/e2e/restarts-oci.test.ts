/**
 * What a user sees when a container task dies, end to end through the CLI on `dabba dev` with the
 * oci runtime: after `kill -9` the task comes back at the same address (the port answers there
 * again), `dabba status` shows the kill as its last exit, `dabba events` lists the exit and the
 * restart; `dabba logs JOB` shows every task's lines, prefixed; `dabba logs -f` ended by SIGINT
 * exits 130 quietly, with no error in the server's log; a crash-looping task's output is there
 * while it waits to restart, and `--previous` shows the run before the current one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DabbaEvent, JobView, TaskRow } from '../../src/model/index.ts';
import type { DevCluster } from '../helpers/dev-cluster.ts';
import { REPO, waitFor } from '../helpers/dev-cluster.ts';
import { destroyOciDev, ociForTests, startOciDev } from '../helpers/oci-dev.ts';

const { skip: skip } = await ociForTests();

async function answers(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** Lines of the dev process's log at level error or worse. */
async function serverErrors(c: DevCluster): Promise<string[]> {
  const text = await readFile(join(c.dataDir, 'dabba.log'), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => /"level":(50|60)\b/.test(l));
}

const HELLO = `name: hello
replicas: 3
task:
  image: hello
  command: ["sh", "-c", "echo \\"hello from $(hostname)\\"; exec httpd -f -p 8080 -h /www"]
  resources: { cpu: 0.1, memory: 32Mi, pids: 64 }
  ports: [{ name: http, port: 8080 }]
  health:
    readiness: { http: { port: http, path: / }, interval: 500ms }
  restart: { policy: always, backoff: 500ms }
  stopGracePeriod: 5s
update: { minHealthy: 500ms, deadline: 1m }
`;

// Each run prints a line of its own. The first then fails, and the next starts 30 s later (time for
// the CLI to show the crashed run's output on a loaded machine); the second, finding the mark the
// first left on its volume, keeps running, so `--previous` and the current run are known.
const CRASH = `name: crash
replicas: 1
task:
  image: busybox
  command:
    - sh
    - -c
    - 'echo "run $(cat /proc/sys/kernel/random/uuid)"; [ -e /state/ran ] && exec sleep 100000; touch /state/ran; exit 3'
  resources: { cpu: 0.1, memory: 32Mi, pids: 16 }
  volumes: [{ name: state, mount: /state, size: 1Mi }]
  restart: { policy: always, backoff: 30s, maxBackoff: 30s }
  stopGracePeriod: 1s
`;

describe('restarts, events and logs with containers', { skip }, () => {
  let c: DevCluster;
  let network = '';

  before(async () => {
    ({ c, network } = await startOciDev());
  });
  after(async () => {
    // Whatever is left: every container of this cluster re-adopted and removed.
    await destroyOciDev(c, network);
  });

  async function tasks(job: string): Promise<TaskRow[]> {
    const r = await c.cli(['status', job, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as JobView).tasks;
  }

  test('kill -9: same address, the port answers again, the kill is the last exit and in the events', async () => {
    await writeFile(join(c.dataDir, 'hello.yaml'), HELLO);
    const deployed = await c.cli(['deploy', join(c.dataDir, 'hello.yaml')]);
    assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
    const [victim] = await tasks('hello');
    assert.ok(victim?.address && victim.pid !== null, JSON.stringify(victim));
    const url = `http://${victim.address}:8080/`;
    assert.ok(await answers(url), `${url} answers before the kill`);

    process.kill(victim.pid, 'SIGKILL');
    const back = await waitFor('the killed task to run again', async () => {
      const t = (await tasks('hello')).find((x) => x.id === victim.id);
      return t && t.state === 'running' && t.restarts >= 1 && t.pid !== victim.pid ? t : undefined;
    });
    assert.equal(back.address, victim.address, 'the task keeps its address across the restart');
    assert.deepEqual(back.lastExit && [back.lastExit.reason, back.lastExit.signal, back.lastExit.exitCode], [
      'Killed',
      'SIGKILL',
      137,
    ]);
    await waitFor(`${url} to answer again`, () => answers(url));

    const status = await c.cli(['status', 'hello']);
    assert.match(
      status.stdout.split('\n').find((l) => l.startsWith(victim.id)) ?? '',
      /killed by SIGKILL \(exit 137\)/,
    );

    const events = await c.cli(['events', 'hello', '--json']);
    assert.equal(events.code, 0, events.stderr);
    const mine = (JSON.parse(events.stdout) as DabbaEvent[]).filter((e) => e.task === victim.id);
    const exited = mine.find((e) => e.kind === 'task.exited');
    assert.match(exited?.message ?? '', /killed by SIGKILL/, JSON.stringify(mine));
    const restarted = mine.find((e) => e.kind === 'task.restarted');
    assert.ok(restarted && restarted.at >= (exited?.at ?? Infinity), JSON.stringify(mine));
    const text = await c.cli(['events', 'hello']);
    assert.match(text.stdout, new RegExp(`task\\.restarted\\s+task ${victim.id} restarted`));
  });

  test('dabba logs JOB interleaves every task, prefixed; logs -f ends on SIGINT with 130, quietly', async () => {
    const ids = (await tasks('hello')).map((t) => t.id);
    assert.equal(ids.length, 3);
    const r = await c.cli(['logs', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    for (const id of ids) assert.ok(r.stdout.includes(`${id} | hello from ${id}\n`), r.stdout);
    const one = await c.cli(['logs', 'hello', '--task', ids[1] ?? '']);
    assert.equal(one.stdout, `hello from ${ids[1]}\n`);

    const errorsBefore = (await serverErrors(c)).length;
    const child = spawn(
      process.execPath,
      [join(REPO, 'src', 'bin', 'dabba.ts'), 'logs', '-f', ids[0] ?? ''],
      {
        // As the user who started dev: its stored credentials, no token given.
        env: { ...process.env, DABBA_ADDR: c.url, DABBA_TOKEN: '', XDG_CONFIG_HOME: c.configHome },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await waitFor('the followed line', () => stdout.includes('hello from'), 15_000);
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.equal(stderr, '');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual((await serverErrors(c)).slice(errorsBefore), [], 'no error in the server log');
  });

  test("a crash loop's output is shown while it waits to restart; --previous shows the run before", async () => {
    await writeFile(join(c.dataDir, 'crash.yaml'), CRASH);
    const deployed = await c.cli(['deploy', join(c.dataDir, 'crash.yaml'), '--detach']);
    assert.equal(deployed.code, 0, deployed.stderr);
    const waiting = await waitFor(
      'the task to wait for its restart',
      async () => (await tasks('crash')).find((t) => t.state === 'failed' && t.restarts >= 1),
      30_000,
      100,
    );
    // The wait before the restart (30 s) leaves room for the CLI to start on a loaded machine.
    const between = await c.cli(['logs', waiting.id]);
    assert.equal(between.code, 0, between.stderr);
    const first = /^run (\S+)$/m.exec(between.stdout)?.[1];
    assert.ok(first, `the crashed run's line is shown: ${JSON.stringify(between)}`);
    assert.match(between.stderr, /is not running: showing the output of its previous run .*exit code 3/);

    const sameRun = async (): Promise<TaskRow | undefined> =>
      (await tasks('crash')).find(
        (t) => t.id === waiting.id && t.state === 'running' && t.restarts === waiting.restarts,
      );
    // The second run keeps running: whatever the CLI's pace, it is the current run below.
    await waitFor('the next run', sameRun, 90_000, 100);
    const previous = await c.cli(['logs', waiting.id, '--previous']);
    const current = await waitFor('the next run to print', async () => {
      const r = await c.cli(['logs', waiting.id]);
      return /^run (\S+)$/m.exec(r.stdout)?.[1];
    });
    assert.ok(await sameRun(), 'still the run after the one that crashed');
    assert.notEqual(current, first, 'a new run, with its own line');
    assert.equal(previous.code, 0, previous.stderr);
    assert.equal(previous.stdout, `run ${first}\n`);
    assert.equal(previous.stderr, '');
    const stop = await c.cli(['stop', 'crash']);
    assert.equal(stop.code, 0, stop.stderr);
  });
});
