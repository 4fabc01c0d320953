import type { Command } from 'commander';
import {
  type BatchStatus,
  describeExit,
  formatExplanation,
  httpByName,
  type JobView,
  type PortProtocol,
  type TaskRow,
} from '../../model/index.ts';
import type { CliContext } from '../context.ts';
import { ago, formatSize, table } from '../output.ts';

/**
 * Why the job's unplaced tasks have no host, one block per distinct explanation: the summary, then
 * per filter the hosts it rejected and why, the nearest fits and what would make the task fit.
 */
export function unplacedBlocks(tasks: readonly TaskRow[]): string[] {
  const groups = new Map<string, TaskRow[]>();
  for (const t of tasks) {
    if (t.host !== null || t.desired !== 'run' || t.unplaced === null) continue;
    const key = t.unplaced;
    const list = groups.get(key);
    if (list) list.push(t);
    else groups.set(key, [t]);
  }
  const out: string[] = [];
  for (const [summary, list] of groups) {
    const ids =
      list.length <= 3
        ? list.map((t) => t.id).join(', ')
        : `${list[0]?.id ?? ''} and ${list.length - 1} more`;
    const head = `${list.length} task${list.length === 1 ? '' : 's'} cannot be placed (${ids})`;
    const e = list[0]?.explanation;
    out.push((e ? formatExplanation(e, head) : [`${head}: ${summary}`]).join('\n'));
  }
  return out;
}

/** Tasks that got fresh, empty volumes because their slot's host was down or gone: said loudly. */
export function freshVolumeLines(tasks: readonly TaskRow[]): string[] {
  const lines = tasks
    .filter((t) => t.desired === 'run' && t.freshVolumes !== undefined)
    .map((t) => `  ${t.id} (slot ${t.slot ?? '?'}): ${t.freshVolumes ?? ''}`);
  return lines.length === 0
    ? []
    : [
        `WARNING: ${lines.length === 1 ? 'a task runs' : `${lines.length} tasks run`} on fresh volumes:\n${lines.join('\n')}`,
      ];
}

/** What waits on the job's TaskControl controller, and since when; its last error. */
export function taskControlBlock(view: JobView, now = Date.now()): string[] {
  const tc = view.taskControl;
  if (tc === undefined) return [];
  const lines = [
    `${tc.waiting.length} operation${tc.waiting.length === 1 ? '' : 's'} waiting on the controller (${tc.url})` +
      (tc.lastError === undefined ? '' : `; last request failed: ${tc.lastError}`),
  ];
  for (const w of [...tc.waiting].sort((a, b) => a.since - b.since)) {
    const deadline = w.deadline === undefined ? '' : `, proceeds at ${new Date(w.deadline).toISOString()}`;
    lines.push(
      `  ${w.op} ${w.task} on ${w.host}: waiting since ${ago(w.since, now)} ago${deadline} (${w.reason})`,
    );
  }
  return [lines.join('\n')];
}

/** The protocol of each port the job's spec (user form, as the API sends it) declares. */
function portProtocols(spec: unknown): Map<string, PortProtocol> {
  const out = new Map<string, PortProtocol>();
  const task = isObject(spec) ? spec['task'] : undefined;
  const ports = isObject(task) ? task['ports'] : undefined;
  if (!Array.isArray(ports)) return out;
  for (const p of ports as unknown[]) {
    if (!isObject(p) || typeof p['name'] !== 'string') continue;
    const protocol = p['protocol'];
    if (protocol === 'http' || protocol === 'tcp' || protocol === 'udp') out.set(p['name'], protocol);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Where the job's running tasks answer, one line per declared port: `http://ADDR:PORT` for http
 * ports, `tcp://ADDR:PORT` and `udp://ADDR:PORT` for the others. A port the spec does not list (a
 * task of another version) follows the name rule.
 */
export function endpointsOf(view: JobView): string[] {
  const protocols = portProtocols(view.spec);
  const out: string[] = [];
  for (const t of view.tasks) {
    if (t.state !== 'running' || t.address === null) continue;
    for (const [name, port] of Object.entries(t.ports)) {
      const scheme = protocols.get(name) ?? (httpByName(name) ? 'http' : 'tcp');
      out.push(`${name}: ${scheme}://${t.address}:${port}  (${t.id})`);
    }
  }
  return out;
}

/** The head of a batch job's status: where it stands, its counts. */
export function batchHeader(job: string, version: number, b: BatchStatus): string {
  return (
    `job ${job}  version ${version}  batch ${b.state}  ${b.succeeded}/${b.completions} completions succeeded, ` +
    `${b.failed} failed run${b.failed === 1 ? '' : 's'}, ${b.active} active (parallelism ${b.parallelism}, priority ${b.priority})` +
    `${b.preempted > 0 ? `, ${b.preempted} preempted for services` : ''}\n` +
    (b.state === 'running' ? '' : `${b.message}\n`)
  );
}

export function statusCommand(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('list jobs, or show one job and its tasks')
    .argument('[job]', 'job name')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (job: string | undefined, opts: { addr?: string; json?: boolean }) => {
      const client = ctx.client(opts.addr);
      if (job === undefined) {
        const jobs = await client.listJobs();
        if (opts.json) return ctx.out.write(JSON.stringify(jobs, null, 2) + '\n');
        if (jobs.length === 0) return ctx.out.write('no jobs (deploy one with: dabba deploy FILE)\n');
        // The namespace column when the list spans several.
        const many =
          new Set(jobs.map((j) => j.namespace)).size > 1 || jobs.some((j) => j.namespace !== 'default');
        ctx.out.write(
          table(
            [
              ...(many ? ['NAMESPACE'] : []),
              'JOB',
              'VERSION',
              'STATUS',
              'HEALTHY',
              'RUNNING',
              'DEPLOYMENT',
              'UPDATED',
            ],
            jobs.map((j) => [
              ...(many ? [j.namespace] : []),
              j.job,
              String(j.version),
              j.batch === undefined ? j.status : `batch ${j.batch.state}`,
              j.batch === undefined
                ? `${j.healthy}/${j.replicas}`
                : `${j.batch.succeeded}/${j.batch.completions} done`,
              String(j.running),
              j.deployment ?? '-',
              `${ago(j.updatedAt)} ago`,
            ]),
          ),
        );
        return;
      }
      const view = await client.getJob(job);
      if (opts.json) return ctx.out.write(JSON.stringify(view, null, 2) + '\n');
      const d = view.deployment;
      const b = view.batch;
      ctx.out.write(
        (b === undefined
          ? `job ${view.job}  version ${view.version}  ${view.status}  ${view.counts.healthy}/${view.replicas} healthy\n` +
            (d ? `deployment v${d.version}: ${d.state}${d.message ? ` (${d.message})` : ''}\n` : '')
          : batchHeader(view.job, view.version, b)) + '\n',
      );
      if (view.tasks.length === 0) return ctx.out.write('no tasks\n');
      ctx.out.write(
        table(
          [
            'TASK',
            ...(b === undefined ? [] : ['COMPLETION']),
            'VER',
            'HOST',
            'STATE',
            'HEALTHY',
            'RESTARTS',
            'LAST EXIT',
            'PID',
            'ADDRESS',
            'CPU',
            'MEM',
            'AGE',
            'REASON',
          ],
          view.tasks.map((t) => [
            t.id,
            ...(b === undefined
              ? []
              : [t.completion === undefined ? '-' : `${t.completion.index} (try ${t.completion.attempt})`]),
            String(t.version),
            t.host ?? '-',
            t.desired === 'stop' && t.state !== 'stopped' ? `${t.state}(stopping)` : t.state,
            t.healthy ? 'yes' : 'no',
            String(t.restarts),
            t.lastExit === null ? '-' : `${describeExit(t.lastExit)}, ${ago(t.lastExit.at)} ago`,
            t.pid === null ? '-' : String(t.pid),
            t.address === null
              ? '-'
              : `${t.address}${Object.values(t.ports).length ? `:${Object.values(t.ports).join(',')}` : ''}`,
            t.usage ? `${t.usage.cpuSeconds.toFixed(1)}s` : '-',
            t.usage ? formatSize(t.usage.memoryBytes) : '-',
            ago(t.startedAt ?? t.createdAt),
            t.preempted !== undefined
              ? `Preempted: ${t.preempted}`
              : t.reason === null
                ? ''
                : `${t.reason}${t.message && t.state !== 'running' ? `: ${t.message}` : ''}`,
          ]),
        ),
      );
      const blocks = [
        ...freshVolumeLines(view.tasks),
        ...taskControlBlock(view),
        ...unplacedBlocks(view.tasks),
      ];
      if (blocks.length > 0) ctx.out.write('\n' + blocks.join('\n\n') + '\n');
    });
}
