/**
 * Host-history recorder against atop, side by side on the same host for the same period:
 * `node bench/host-history.ts [--seconds 300] [--tasks 50] [--interval 5]` (needs Debian's atop:
 * `apt-get install -y atop`; root, for /proc/PID/io of every process).
 *
 * 1. Starts `--tasks` stand-ins for tasks, each a real process tree like a small service: most
 *    sleep (an idle server), one in five wakes up every second to do a little work (a busy one), one
 *    in ten writes a few KiB every 2 s (a logger). They are attributed to tasks by main pid, as the
 *    process runtime's are.
 * 2. Runs Dabba's recorder in this process (HostHistoryRecorder, every 5 s, as the agent does) and
 *    `atop -w FILE 5` as a child, for the same `--seconds`.
 * 3. Prints for each: CPU in percent of one core (this process's process.cpuUsage(), which counts
 *    everything the process does, not only the sampling; atop's utime + stime from /proc), bytes on
 *    disk and bytes per day extrapolated from the run, and the ratios. Then the cost of a query (the
 *    snapshot nearest a time in the middle of the run, decoded from its block).
 * Everything started is stopped and the temp dir removed, even on failure or Ctrl-C.
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../src/lib/index.ts';
import { HostHistoryRecorder, type TaskRef } from '../src/telemetry/hosthistory/index.ts';
import { table } from './report.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const SECONDS = arg('seconds', 300);
const TASKS = arg('tasks', 50);
const INTERVAL_S = arg('interval', 5);
const DAY_S = 86_400;

function atopPath(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v atop'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('atop is not installed: apt-get install -y atop');
  }
}

/** utime + stime of a process in seconds (USER_HZ is 100). */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
}

const SCRIPTS = {
  idle: 'exec sleep 100000',
  busy: 'while :; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; sleep 1; done',
  logger: 'while :; do head -c 8192 /dev/urandom > "$OUT"; sleep 2; done',
};

function mix(i: number): keyof typeof SCRIPTS {
  if (i % 10 === 9) return 'logger';
  if (i % 5 === 0) return 'busy';
  return 'idle';
}

async function main(): Promise<void> {
  const atop = atopPath();
  const dir = mkdtempSync(join(tmpdir(), 'dabba-bench-hosthistory-'));
  const ours = join(dir, 'dabba');
  const atopFile = join(dir, 'atop.raw');
  const children: ChildProcess[] = [];
  const cleanup = (): void => {
    for (const c of children) if (c.pid !== undefined && c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const tasks: TaskRef[] = [];
    for (let i = 0; i < TASKS; i++) {
      const kind = mix(i);
      const c = spawn('sh', ['-c', SCRIPTS[kind]], {
        stdio: 'ignore',
        env: { ...process.env, OUT: join(dir, `out-${i}`) },
      });
      children.push(c);
      if (c.pid !== undefined)
        tasks.push({ id: `bench${kind}-${String(i).padStart(5, '0')}`, job: `bench${kind}`, pid: c.pid });
    }
    console.log(
      `${TASKS} tasks (${tasks.filter((t) => t.job === 'benchidle').length} idle, ${tasks.filter((t) => t.job === 'benchbusy').length} busy every second, ${tasks.filter((t) => t.job === 'benchlogger').length} writing every 2 s); ${readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length} processes on the host; ${SECONDS} s, every ${INTERVAL_S} s`,
    );
    await sleep(1000);

    const atopProc = spawn(atop, ['-w', atopFile, String(INTERVAL_S)], { stdio: 'ignore' });
    children.push(atopProc);
    const recorder = new HostHistoryRecorder({
      hostId: 'bench',
      dir: ours,
      tasks: () => tasks,
      intervalMs: INTERVAL_S * 1000,
    });
    const controller = new AbortController();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const running = recorder.run(controller.signal);
    await sleep(SECONDS * 1000);
    const atopCpu = atopProc.pid === undefined ? NaN : cpuSecondsOf(atopProc.pid);
    atopProc.kill('SIGTERM');
    controller.abort();
    await running;
    const wall = (performance.now() - t0) / 1000;
    const used = process.cpuUsage(cpu0);
    const ourCpu = (used.user + used.system) / 1e6;
    await new Promise((r) => (atopProc.exitCode === null ? atopProc.once('exit', r) : r(undefined)));
    const ourBytes = dirBytes(ours);
    const atopBytes = statSync(atopFile).size;

    const pctCore = (s: number): string => `${((s / wall) * 100).toFixed(3)}%`;
    const perDay = (b: number): string => `${(((b / wall) * DAY_S) / 1e6).toFixed(1)} MB`;
    table(
      `Host history over ${wall.toFixed(0)} s (${recorder.stats.samples} samples, ${recorder.stats.blocks} blocks)`,
      ['recorder', 'CPU (s)', '% of a core', 'bytes on disk', 'bytes per day'],
      [
        ['dabba (bench process)', ourCpu.toFixed(2), pctCore(ourCpu), ourBytes, perDay(ourBytes)],
        ['atop -w 5', atopCpu.toFixed(2), pctCore(atopCpu), atopBytes, perDay(atopBytes)],
        ['atop / dabba', (atopCpu / ourCpu).toFixed(2), '', (atopBytes / ourBytes).toFixed(1), ''],
      ],
    );

    // A query: the snapshot nearest the middle of the run, decoded from its block.
    const mid = Date.now() - (wall * 1000) / 2;
    const times: number[] = [];
    let snapshot;
    for (let i = 0; i < 10; i++) {
      const q0 = performance.now();
      snapshot = recorder.snapshotAt(mid);
      times.push(performance.now() - q0);
    }
    times.sort((a, b) => a - b);
    const attributed = snapshot?.processes.filter((p) => p.task !== undefined).length ?? 0;
    console.log(
      `\nquery nearest the middle: median ${times[5]?.toFixed(2)} ms; ${snapshot?.processes.length ?? 0} processes, ${attributed} attributed to the ${TASKS} tasks`,
    );
  } finally {
    cleanup();
  }
}

await main();
