/**
 * The process runtime's log writer on a full disk (a real 4 MB tmpfs as the state dir): a chatty
 * task that would stop at its first failed write (`echo ... || exit`) runs on, since its writes go
 * to a pipe and never fail; what the writer could not write is counted (bytes, lines, ENOSPC, when)
 * in log-drops.json, which the full disk can still take; once the tmpfs is enlarged, output reaches
 * the log again and the window of drops is closed. The writer outlives a runtime that is closed
 * (an agent's restart) and a new runtime reads the same counts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/lib/index.ts';
import { ProcessRuntime } from '../../src/runtime/process/index.ts';
import type { TaskSpec } from '../../src/model/index.ts';
import { isAlive, waitFor } from '../helpers/dev-cluster.ts';
import { Tmpfs } from '../helpers/tmpfs.ts';

let fs: Tmpfs;
const runtimes: ProcessRuntime[] = [];
before(async () => {
  fs = await Tmpfs.mount('4m');
});
after(async () => {
  const sweeper = new ProcessRuntime({ stateDir: fs.dir, logger: silentLogger });
  const { running, exited } = await sweeper.recover().catch(() => ({ running: [], exited: [] }));
  for (const { taskId } of [...running, ...exited]) {
    await sweeper.stop(taskId, 0).catch(() => undefined);
    await sweeper.remove(taskId).catch(() => undefined);
  }
  for (const rt of [...runtimes, sweeper]) await rt.close();
  await fs.destroy();
});

function spec(command: string[]): TaskSpec {
  return {
    command,
    env: {},
    resources: { cpu: 0.5, memoryBytes: 256 * 1024 * 1024, pids: 100 },
    ports: [],
    health: {},
    restart: { policy: 'never', initialBackoffMs: 100, maxBackoffMs: 1000 },
    stopGracePeriodMs: 1000,
  };
}

test(
  'a full disk: the task writes on without an error, the writer drops and counts, then writes again',
  { timeout: 120_000 },
  async () => {
    const rt = new ProcessRuntime({ stateDir: fs.dir, logger: silentLogger, logCheckIntervalMs: 600_000 });
    runtimes.push(rt);
    // Stops at the first write that fails (as many programs do on EPIPE/ENOSPC on stdout).
    const script =
      'i=0; while echo "chatty line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" && echo "err $i" >&2; do ' +
      'i=$((i+1)); sleep 0.005; done; exit 3';
    const h = await rt.start({
      taskId: 'chatty',
      job: 'chatty',
      version: 1,
      env: {},
      spec: spec(['sh', '-c', script]),
    });
    const exited = rt.wait('chatty');
    const log = join(fs.dir, 'tasks', 'chatty', 'stdout.log');
    await waitFor('output in the log', async () =>
      (await readFile(log, 'utf8')).includes('chatty line 3') ? true : undefined,
    );

    await fs.fill('filler');
    const dropping = await waitFor('drops counted', async () => {
      const d = await rt.logDrops('chatty');
      const w = d.find((x) => x.stream === 'stdout');
      // stderr, apart: its last page of the file takes a few more lines before it is full too.
      const e = d.find((x) => x.stream === 'stderr');
      return w !== undefined && w.bytes > 10_000 && w.lines > 100 && e !== undefined ? w : undefined;
    });
    assert.equal(dropping.reason, 'ENOSPC');
    assert.equal(dropping.to, undefined, 'the window is open while the disk is full');
    assert.ok(isAlive(h.pid), 'the task writes on');

    // An agent restart meanwhile: the writer goes on; a new runtime reads the same counts.
    await rt.close();
    const rt2 = new ProcessRuntime({ stateDir: fs.dir, logger: silentLogger, logCheckIntervalMs: 600_000 });
    runtimes.push(rt2);
    const { running } = await rt2.recover();
    assert.deepEqual(
      running.map((r) => r.taskId),
      ['chatty'],
    );
    const more = await waitFor('counts go on across the restart', async () => {
      const w = (await rt2.logDrops('chatty')).find((x) => x.stream === 'stdout');
      return w !== undefined && w.bytes > dropping.bytes ? w : undefined;
    });
    assert.equal(more.from, dropping.from);

    const sizeFull = (await readFile(log)).length;
    await fs.remount('size=64m');
    const closed = await waitFor('the window closed', async () => {
      const w = (await rt2.logDrops('chatty')).find((x) => x.stream === 'stdout');
      return w?.to !== undefined ? w : undefined;
    });
    assert.ok(closed.to! >= closed.from);
    assert.ok(closed.lines > 100 && closed.bytes >= more.bytes, JSON.stringify(closed));
    await waitFor('output reaches the log again', async () =>
      (await readFile(log)).length > sizeFull + 1000 ? true : undefined,
    );
    const stderr = (await rt2.logDrops('chatty')).find((x) => x.stream === 'stderr');
    assert.ok(stderr !== undefined && stderr.lines > 0, 'stderr is counted apart');
    assert.ok(isAlive(h.pid), 'the task never saw a failed write');
    await rt2.stop('chatty', 0);
    const status = await exited;
    assert.equal(
      status.reason,
      'Killed',
      `stopped by us, not ended by a failed write: ${JSON.stringify(status)}`,
    );
  },
);

/** Pids of the log writers of a state dir. */
async function writerPids(stateDir: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'latin1').catch(() => '');
    if (cmd.includes('log-writer-main.ts') && cmd.includes(stateDir)) out.push(Number(name));
  }
  return out;
}

test(
  'a log writer killed while a task runs: its output waits in the pipe and a new writer writes it',
  { timeout: 60_000 },
  async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'dabba-log-writer-'));
    const rt = new ProcessRuntime({ stateDir, logger: silentLogger });
    try {
      const wd = await mkdtemp(join(tmpdir(), 'dabba-log-writer-wd-'));
      const script =
        'echo one; while [ ! -f go ]; do sleep 0.05; done; echo two; echo three >&2; while [ ! -f end ]; do sleep 0.05; done';
      await rt.start({
        taskId: 'lone',
        job: 'lone',
        version: 1,
        env: {},
        spec: { ...spec(['sh', '-c', script]), workingDir: wd },
      });
      const log = join(stateDir, 'tasks', 'lone', 'stdout.log');
      await waitFor('one in the log', async () =>
        (await readFile(log, 'utf8')) === 'one\n' ? true : undefined,
      );
      const [writer] = await writerPids(stateDir);
      assert.ok(writer !== undefined, 'a log writer runs');
      process.kill(writer, 'SIGKILL');
      await waitFor('the writer gone', async () =>
        (await writerPids(stateDir)).length === 0 ? true : undefined,
      );
      await writeFile(join(wd, 'go'), '');
      // The runtime's periodic check starts a new writer while tasks run; it takes up their pipes.
      await waitFor('a new writer with the rest', async () => {
        await rt.rotateLogs();
        return (await readFile(log, 'utf8')).includes('two') ? true : undefined;
      });
      await writeFile(join(wd, 'end'), '');
      assert.equal((await rt.wait('lone')).exitCode, 0, 'the task ended normally: no SIGPIPE');
      const lines: string[] = [];
      for await (const l of rt.logs('lone')) lines.push(`${l.stream}:${l.text}`);
      assert.deepEqual(lines, ['stdout:one', 'stdout:two', 'stderr:three']);
      await waitFor('the new writer exits by itself', async () =>
        (await writerPids(stateDir)).length === 0 ? true : undefined,
      );
      await rt.remove('lone');
      await rm(wd, { recursive: true, force: true });
    } finally {
      await rt.close();
      for (const pid of await writerPids(stateDir)) process.kill(pid, 'SIGKILL');
      await rm(stateDir, { recursive: true, force: true });
    }
  },
);
