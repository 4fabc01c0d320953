/**
 * What the mesh benchmarks share: an open-loop load generator that corrects for coordinated
 * omission (as wrk2 does: each request has an intended start on a fixed schedule, and its latency
 * counts from that moment, so a stall of the system under test shows as the latency of every
 * request that should have started during it, not as fewer requests), the benchmark task run as a
 * child process, and HAProxy proxies run by Dabba's own supervisor.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sleep } from '../src/lib/index.ts';

export interface OpenLoopResult {
  /** Requests started (on schedule). */
  sent: number;
  /** 2xx answers received before the deadline. */
  good: number;
  /** Other statuses received before the deadline (e.g. 503 from a queue timeout). */
  rejected: number;
  /** Requests given up at the deadline (no answer by then). */
  gaveUp: number;
  /** Connection errors. */
  errors: number;
  /** Latency (ms, from the intended start) of every answer received, ascending. */
  latencies: number[];
  /** The same for the 2xx answers only, ascending. */
  goodLatencies: number[];
  /** How far behind its schedule the generator itself ran, at worst (ms). */
  maxLagMs: number;
  /** When each 2xx answer arrived (ms since the first intended start), in arrival order. */
  goodAt: number[];
}

/**
 * Sends GET `url` at `rate` per second for `durationMs` on a fixed schedule (open loop), giving up
 * on a request `deadlineMs` after its intended start; waits for the last ones.
 */
export async function openLoop(o: {
  url: string;
  rate: number;
  durationMs: number;
  deadlineMs?: number;
}): Promise<OpenLoopResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 4096 });
  const r: OpenLoopResult = {
    sent: 0,
    good: 0,
    rejected: 0,
    gaveUp: 0,
    errors: 0,
    latencies: [],
    goodLatencies: [],
    maxLagMs: 0,
    goodAt: [],
  };
  const interval = 1000 / o.rate;
  const deadline = o.deadlineMs ?? 30_000;
  const inflight = new Set<Promise<void>>();
  const start = performance.now() + 5;
  const fire = (due: number): void => {
    r.sent++;
    const p = new Promise<void>((resolve) => {
      let done = false;
      const finish = (f: () => void): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        f();
        resolve();
      };
      const req = request(o.url, { agent }, (res) => {
        res.resume();
        res.on('end', () =>
          finish(() => {
            const ms = performance.now() - due;
            r.latencies.push(ms);
            if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) {
              r.good++;
              r.goodLatencies.push(ms);
              r.goodAt.push(performance.now() - start);
            } else r.rejected++;
          }),
        );
      });
      const timer = setTimeout(
        () =>
          finish(() => {
            r.gaveUp++;
            req.destroy();
          }),
        Math.max(0, due + deadline - performance.now()),
      );
      req.on('error', () => finish(() => r.errors++));
      req.end();
    });
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  };
  const total = Math.floor((o.durationMs / 1000) * o.rate);
  for (let i = 0; i < total;) {
    const now = performance.now();
    const due = start + i * interval;
    if (due <= now) {
      r.maxLagMs = Math.max(r.maxLagMs, now - due);
      fire(due);
      i++;
      continue;
    }
    await sleep(Math.min(1, due - now));
  }
  await Promise.all([...inflight]);
  agent.destroy();
  r.latencies.sort((a, b) => a - b);
  r.goodLatencies.sort((a, b) => a - b);
  return r;
}

export interface Backend {
  port: number;
  child: ChildProcess;
  stop(): void;
}

/** Starts bench/mesh-backend.ts as a child process; resolves once it listens. */
export async function startBackend(o: { concurrency?: number; costMs?: number } = {}): Promise<Backend> {
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, 'mesh-backend.ts'),
      '--concurrency',
      String(o.concurrency ?? 0),
      '--cost-ms',
      String(o.costMs ?? 0),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const stdout = child.stdout;
  if (stdout === null) throw new Error('no stdout from the backend');
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the backend exited (${String(code)})`)));
  });
  return { port: Number(line), child, stop: () => void child.kill('SIGTERM') };
}

/**
 * Resident memory (bytes: RSS, and PSS, which shares pages of shared libraries among the processes
 * that map them) and CPU time (s) of a process, from /proc.
 */
export async function procUsage(
  pid: number,
): Promise<{ rssBytes: number; pssBytes: number; cpuSeconds: number }> {
  const status = await readFile(`/proc/${String(pid)}/status`, 'utf8');
  const rollup = await readFile(`/proc/${String(pid)}/smaps_rollup`, 'utf8');
  const stat = await readFile(`/proc/${String(pid)}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  const pss = Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) * 1024;
  return { rssBytes: rss, pssBytes: pss, cpuSeconds: ticks / 100 };
}

/** The p-th percentile (0-100) of an ascending array, NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}
