/**
 * `dabba describe JOB|TASK|HOST`: the human view of everything the server knows about one thing:
 * its status, its spec or capacity, where its tasks run and why some do not, and its recent events.
 */
import type { Command } from 'commander';
import type { DabbaClient } from '../../client/index.ts';
import { isDabbaError } from '../../errors/index.ts';
import type { DabbaEvent, HostView, JobView, TaskRow } from '../../model/index.ts';
import { jobOfTaskId } from '../../model/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { ago, cpu, formatSize, table } from '../output.ts';

const notFound = (e: unknown): boolean => isDabbaError(e) && e.code === 'DABBA_E_NOT_FOUND';

/** The value, or undefined when the server says there is no such thing. */
async function orNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (notFound(e)) return undefined;
    throw e;
  }
}

function field(name: string, value: string | number | null | undefined): string {
  return `${`${name}:`.padEnd(16)}${value === null || value === undefined || value === '' ? '-' : value}\n`;
}

function eventsBlock(events: DabbaEvent[]): string {
  if (events.length === 0) return '\nEvents: none\n';
  const rows = events.map((e) => [`${ago(e.at)} ago`, e.kind, e.message]);
  return `\nEvents:\n${indent(table(['AGE', 'KIND', 'MESSAGE'], rows))}`;
}

const indent = (text: string): string =>
  text
    .split('\n')
    .map((l) => (l === '' ? l : `  ${l}`))
    .join('\n');

function taskTable(tasks: TaskRow[]): string {
  return indent(
    table(
      ['TASK', 'VERSION', 'HOST', 'STATE', 'DESIRED', 'HEALTHY', 'RESTARTS', 'ADDRESS', 'REASON'],
      tasks.map((t) => [
        t.id,
        String(t.version),
        t.host ?? '(unplaced)',
        t.state,
        t.desired,
        t.healthy ? 'yes' : 'no',
        String(t.restarts),
        t.address === null
          ? '-'
          : `${t.address} ${Object.entries(t.ports)
              .map(([n, p]) => `${n}=${p}`)
              .join(',')}`.trim(),
        t.reason ?? '',
      ]),
    ),
  );
}

function describeJob(v: JobView, events: DabbaEvent[]): string {
  let s = field('Job', v.job);
  s += field('Status', v.status);
  s += field('Version', v.version);
  s += field(
    'Replicas',
    `${v.replicas} desired, ${v.counts.running} running, ${v.counts.healthy} healthy, ${v.counts.pending} pending, ${v.counts.failed} failed`,
  );
  s += field('Created', `${ago(v.createdAt)} ago`);
  s += field('Updated', `${ago(v.updatedAt)} ago`);
  const d = v.deployment;
  s += field(
    'Deployment',
    d ? `version ${d.version} ${d.state}${d.phase ? ` (${d.phase})` : ''}: ${d.message}` : null,
  );
  const task = (v.spec as { task?: Record<string, unknown> } | null)?.task ?? {};
  s += '\nTask:\n';
  for (const [k, val] of Object.entries(task))
    s += `  ${field(k, typeof val === 'string' ? val : JSON.stringify(val))}`;
  s += `\nTasks (${v.tasks.length}):\n`;
  s += v.tasks.length === 0 ? '  none\n' : taskTable(v.tasks);
  for (const t of v.tasks.filter((x) => x.unplaced !== null))
    s += `\n${t.id} cannot be placed: ${t.unplaced}\n`;
  return s + eventsBlock(events);
}

function describeTask(t: TaskRow, events: DabbaEvent[]): string {
  let s = field('Task', t.id);
  s += field('Job', `${t.job} (version ${t.version})`);
  s += field('Host', t.host ?? '(unplaced)');
  s += field('State', `${t.state} (desired: ${t.desired})`);
  s += field('Healthy', `${t.healthy ? 'yes' : 'no'} (ready: ${t.ready ? 'yes' : 'no'})`);
  s += field('Restarts', t.restarts);
  s += field('Pid', t.pid);
  s += field('Address', t.address);
  s += field(
    'Ports',
    Object.entries(t.ports)
      .map(([n, p]) => `${n}=${p}`)
      .join(', '),
  );
  s += field('Reason', t.reason);
  s += field('Message', t.message);
  s += field('Exit code', t.exitCode);
  s += field('Started', t.startedAt === null ? null : `${ago(t.startedAt)} ago`);
  s += field('Created', `${ago(t.createdAt)} ago`);
  if (t.usage)
    s += field(
      'Usage',
      `${t.usage.cpuSeconds.toFixed(2)} CPU s, ${formatSize(t.usage.memoryBytes)} memory, ${t.usage.pids} pids`,
    );
  if (t.unplaced !== null) s += `\nCannot be placed: ${t.unplaced}\n`;
  if (t.explanation) for (const sug of t.explanation.suggestions) s += `  ${sug}\n`;
  return s + eventsBlock(events);
}

function describeHost(h: HostView, tasks: TaskRow[], events: DabbaEvent[]): string {
  let s = field('Host', h.id);
  s += field('State', h.drain ?? h.state);
  s += field('Runtime', h.runtime);
  s += field('Agent', h.agentUrl);
  s += field('Task range', h.subnet);
  s += field('Seccomp', h.seccomp);
  s += field('Volumes', h.volumes?.summary);
  s += field('Registered', `${ago(h.registeredAt)} ago`);
  s += field(
    'Labels',
    Object.entries(h.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(', '),
  );
  s += field('CPU', `${cpu(h.allocated.cpu)} of ${cpu(h.capacity.cpu)} allocated`);
  s += field(
    'Memory',
    `${formatSize(h.allocated.memoryBytes)} of ${formatSize(h.capacity.memoryBytes)} allocated`,
  );
  s += field('Pids', `${h.allocated.pids} of ${h.capacity.pids} allocated`);
  s += `\nTasks (${tasks.length}):\n`;
  s += tasks.length === 0 ? '  none\n' : taskTable(tasks);
  return s + eventsBlock(events);
}

async function recentEvents(
  client: DabbaClient,
  job: string | undefined,
  keep: (e: DabbaEvent) => boolean,
): Promise<DabbaEvent[]> {
  const list = await client.events({
    ...(job === undefined ? {} : { job }),
    limit: job === undefined ? 1000 : 200,
  });
  return list.filter(keep).slice(-20);
}

export function describeCommand(program: Command, ctx: CliContext): void {
  program
    .command('describe')
    .description('everything known about a job, a task or a host: status, spec, placement and recent events')
    .argument('<name>', 'a job name, a task id (JOB-xxxxx) or a host id')
    .option('--json', 'machine-readable output: {kind, job|task|host, tasks?, events}')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (name: string, opts: { json?: boolean; addr?: string }) => {
      const client = ctx.client(opts.addr);
      const print = (text: string, json: unknown): void =>
        ctx.out.write(opts.json ? JSON.stringify(json, null, 2) + '\n' : text);

      const taskJob = jobOfTaskId(name);
      if (taskJob !== undefined) {
        const task = (await orNotFound(client.jobTasks(taskJob)))?.find((t) => t.id === name);
        if (task) {
          const events = await recentEvents(
            client,
            taskJob,
            (e) => e.task === name || e.message.includes(name),
          );
          return print(describeTask(task, events), { kind: 'task', task, events });
        }
      }
      const job = await orNotFound(client.getJob(name));
      if (job) {
        const events = await recentEvents(client, name, () => true);
        return print(describeJob(job, events), { kind: 'job', job, events });
      }
      const host = (await client.hosts()).find((h) => h.id === name);
      if (host) {
        const jobs = await client.listJobs();
        const tasks = (
          await Promise.all(jobs.map((j) => client.jobTasks(j.job).catch(() => [] as TaskRow[])))
        )
          .flat()
          .filter((t) => t.host === name);
        const events = await recentEvents(
          client,
          undefined,
          (e) => e.host === name || e.message.includes(name),
        );
        return print(describeHost(host, tasks, events), { kind: 'host', host, tasks, events });
      }
      throw new CliError(
        `no job, task or host named "${name}" (see dabba status, dabba status JOB and dabba hosts)`,
        EXIT.NOT_FOUND,
      );
    });
}
