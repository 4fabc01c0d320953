/** The tables bench/oci-deploy.ts prints (markdown, for docs/benchmarks.md). */
import type { Agent, Deployed, DeployedTask } from './cluster.ts';
import type { RawTimes } from './raw.ts';
import { f, maxOf, median, pct } from './util.ts';

export interface Results {
  rounds: number;
  tasks: number;
  rawOne: Record<'runc' | 'crun' | 'podman', RawTimes[]>;
  split: number[];
  conmon: number[];
  /** agent name -> one deploy of 1 task per round. */
  one: Map<string, Deployed[]>;
  rawMany: Partial<Record<'runc' | 'crun' | 'podman', RawTimes>>;
  many: Map<string, Deployed>;
  conmons: { rss: number; pss: number }[];
  /** The crun agent's memory: idle, with N running, idle again. */
  agentMemory: NodeJS.MemoryUsage[];
}

/** The steps of runContainer (src/runtime/oci/start-trace.ts), in the order they usually end. */
const STEPS = [
  'taskDir',
  'logs',
  'parts',
  'prepared',
  'connected',
  'created',
  'pidRead',
  'createdRecorded',
  'startReturned',
  'runningRecorded',
];

const first = (d: Deployed): DeployedTask => d.tasks[0] as DeployedTask;

function timeline(r: Results, agent: Agent): void {
  const one = r.one.get(agent.name) ?? [];
  const many = r.many.get(agent.name);
  const m1 = (pick: (t: DeployedTask) => number): number => median(one.map((d) => pick(first(d))));
  console.log('');
  console.log(
    `Dabba on ${agent.name}: where the time goes (ms after the PUT; 1 task: medians; N: p50 / max):`,
  );
  console.log('');
  const steps: [string, (t: DeployedTask) => number][] = [
    ['PUT answered (job version stored)', (t) => t.putAnswered],
    ['assignment stored (scheduler)', (t) => t.assigned],
    ['agent sees the assignment (watch)', (t) => t.agentSaw],
    ['runtime.start called', (t) => t.runtimeCalled],
    ['runtime.start returned (process running)', (t) => t.runtimeReturned],
    ['status `running` stored (agent report)', (t) => t.statusStored],
    ['port answers', (t) => t.answering],
    ['inside runtime.start: prepare (address, rootfs, netns, config.json)', (t) => t.runtime?.prepare ?? NaN],
    ['inside runtime.start: conmon + `create`', (t) => t.runtime?.create ?? NaN],
    ['inside runtime.start: `start` + record', (t) => t.runtime?.start ?? NaN],
    ['inside runtime.start: total', (t) => t.runtime?.total ?? NaN],
    ...STEPS.map((k): [string, (t: DeployedTask) => number] => [
      `inside runtime.start: \`${k}\` done (ms after it began)`,
      (t) => t.steps[k] ?? NaN,
    ]),
  ];
  console.log(`| step | 1 task | ${r.tasks} tasks p50 | ${r.tasks} tasks max |`);
  console.log('|---|---:|---:|---:|');
  for (const [label, pick] of steps) {
    const xs = many?.tasks.map(pick) ?? [];
    console.log(`| ${label} | ${f(m1(pick))} | ${f(median(xs))} | ${f(maxOf(xs))} |`);
  }
}

export function report(r: Results, agents: Agent[]): void {
  const rawRunc1 = median(r.rawOne.runc.map((x) => x.running));
  const ratio = (x: number): string => `${(x / rawRunc1).toFixed(2)}x`;
  console.log(
    `deploy -> running, one machine, builtin image hello (httpd :8080); 1 task: median of ${r.rounds}`,
  );
  console.log('');
  console.log(
    `| | 1 task, running | 1 task, answering | 1 task, running p90 | vs raw \`runc run -d\` (running) | ${r.tasks} tasks, all running | ${r.tasks} tasks, all answering |`,
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const k of ['runc', 'crun', 'podman'] as const) {
    const xs = r.rawOne[k];
    if (xs.length === 0) continue;
    const run = median(xs.map((x) => x.running));
    const many = r.rawMany[k];
    const label = k === 'podman' ? '`podman run -d --rootfs`' : `raw \`${k} run -d\``;
    console.log(
      `| ${label} | ${f(run)} ms | ${f(median(xs.map((x) => x.answering)))} ms | ${f(
        pct(
          xs.map((x) => x.running),
          90,
        ),
      )} ms | ${ratio(run)} | ${f(many?.running ?? NaN)} ms | ${f(many?.answering ?? NaN)} ms |`,
    );
  }
  const split = median(r.split);
  const conmon = median(r.conmon);
  console.log(`| raw \`runc create\` + \`runc start\` | ${f(split)} ms | | | ${ratio(split)} | | |`);
  console.log(
    `| raw conmon (\`runc create\`) + \`runc start\` | ${f(conmon)} ms | | | ${ratio(conmon)} | | |`,
  );
  for (const a of agents) {
    const one = r.one.get(a.name) ?? [];
    const run = median(one.map((d) => first(d).statusStored));
    const many = r.many.get(a.name);
    console.log(
      `| **Dabba on ${a.name}** (PUT -> status running / port answers) | ${f(run)} ms | ${f(median(one.map((d) => first(d).answering)))} ms | ${f(
        pct(
          one.map((d) => first(d).statusStored),
          90,
        ),
      )} ms | **${ratio(run)}** | ${f(many?.allRunning ?? NaN)} ms | ${f(many?.allAnswering ?? NaN)} ms |`,
    );
  }
  for (const a of agents) timeline(r, a);
  console.log('');
  const avg = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  const KiB = 1024;
  const MiB = KiB * KiB;
  console.log(
    `conmon per task (${r.conmons.length} running): RSS ${(avg(r.conmons.map((c) => c.rss)) / KiB).toFixed(0)} KiB, ` +
      `PSS ${(avg(r.conmons.map((c) => c.pss)) / KiB).toFixed(0)} KiB`,
  );
  const [idle, busy, after] = r.agentMemory;
  if (idle && busy && after) {
    const perTask = (a: number, b: number): string => `${((b - a) / r.tasks / KiB).toFixed(0)} KiB`;
    console.log(
      `crun agent (after full GCs), 0 tasks -> ${r.tasks} running -> 0 again: ` +
        `RSS ${(idle.rss / MiB).toFixed(1)} -> ${(busy.rss / MiB).toFixed(1)} -> ${(after.rss / MiB).toFixed(1)} MiB, ` +
        `JS heap used ${(idle.heapUsed / MiB).toFixed(1)} -> ${(busy.heapUsed / MiB).toFixed(1)} -> ${(after.heapUsed / MiB).toFixed(1)} MiB; ` +
        `per task: RSS ${perTask(idle.rss, busy.rss)}, heap ${perTask(idle.heapUsed, busy.heapUsed)}`,
    );
  }
}
