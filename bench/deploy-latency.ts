/**
 * Deploy -> running latency with the process runtime, for 1 task and for 50 tasks, through the real
 * server, scheduler, store and agent (in this process), against a baseline run alongside: spawning
 * the same command directly and waiting until it answers on its port.
 *
 *   node bench/deploy-latency.ts [--rounds N]
 *
 * The same through the oci runtime (containers), against raw `runc run -d`: bench/oci-deploy.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startAgent } from '../src/agent/index.ts';
import { DabbaClient } from '../src/client/index.ts';
import { silentLogger } from '../src/lib/index.ts';
import { toUserForm, validateJob } from '../src/model/files.ts';
import { ProcessRuntime } from '../src/runtime/process/index.ts';
import { startServer } from '../src/server/index.ts';
import { SqliteStore } from '../src/store/index.ts';

const HELLO = resolve(import.meta.dirname, '..', 'examples', 'hello');
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] || 5);

function canConnect(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), r(true)));
    s.once('error', () => r(false));
  });
}

async function until(fn: () => Promise<boolean>): Promise<void> {
  while (!(await fn())) await new Promise((r) => setTimeout(r, 2));
}

async function baseline(n: number, basePort: number): Promise<number> {
  const t0 = performance.now();
  const procs = Array.from({ length: n }, (_, i) =>
    spawn(process.execPath, ['server.mjs'], {
      cwd: HELLO,
      env: { ...process.env, PORT: String(basePort + i) },
      stdio: 'ignore',
    }),
  );
  await Promise.all(procs.map((_, i) => until(() => canConnect(basePort + i))));
  const ms = performance.now() - t0;
  for (const p of procs) p.kill('SIGKILL');
  return ms;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-'));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  const server = await startServer({
    store,
    storeName: 'sqlite',
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger,
  });
  const runtime = new ProcessRuntime({ stateDir: join(dir, 'runtime') });
  const client = new DabbaClient({ token: server.adminToken ?? '', addr: server.url });
  const agent = await startAgent({
    client,
    runtime,
    hostId: 'bench',
    labels: {},
    dataDir: join(dir, 'agent'),
    logger: silentLogger,
  });
  const results: { n: number; running: number[]; answering: number[]; base: number[] }[] = [];
  try {
    for (const n of [1, 50]) {
      const r = { n, running: [] as number[], answering: [] as number[], base: [] as number[] };
      for (let round = 0; round < rounds; round++) {
        r.base.push(await baseline(n, 21000));
        const name = `bench-${n}-${round}`;
        const v = validateJob({
          name,
          replicas: n,
          task: {
            command: ['node', 'server.mjs'],
            workingDir: HELLO,
            resources: { cpu: 0.01, memory: '32Mi' },
            ports: [{ name: 'http', port: 8080 }],
          },
        });
        if (!v.ok) throw new Error(JSON.stringify(v.issues));
        const t0 = performance.now();
        await client.putJob(name, toUserForm(v.spec));
        let tRunning = 0;
        for (;;) {
          const tasks = await client.jobTasks(name);
          if (tasks.length === n && tasks.every((t) => t.state === 'running')) {
            tRunning = performance.now() - t0;
            await Promise.all(tasks.map((t) => until(() => canConnect(t.ports['http'] ?? 0))));
            break;
          }
          await new Promise((res) => setTimeout(res, 2));
        }
        r.running.push(tRunning);
        r.answering.push(performance.now() - t0);
        await client.stopJob(name);
        while ((await client.jobTasks(name)).length > 0) await new Promise((res) => setTimeout(res, 20));
      }
      results.push(r);
    }
  } finally {
    await agent.close({ stopTasks: true });
    await runtime.close();
    await server.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`deploy -> running, process runtime, ${rounds} rounds (median, p99 in ms)`);
  console.log(
    'tasks | dabba: status running | dabba: answering | baseline spawn: answering | ratio (answering)',
  );
  for (const r of results) {
    const a = pct(r.answering, 50);
    const b = pct(r.base, 50);
    console.log(
      `${String(r.n).padStart(5)} | ${pct(r.running, 50).toFixed(0).padStart(6)} / ${pct(r.running, 99).toFixed(0).padStart(6)} | ` +
        `${a.toFixed(0).padStart(6)} / ${pct(r.answering, 99).toFixed(0).padStart(6)} | ${b.toFixed(0).padStart(6)} / ${pct(
          r.base,
          99,
        )
          .toFixed(0)
          .padStart(6)} | ${(a / b).toFixed(2)}x`,
    );
  }
}

await main();
