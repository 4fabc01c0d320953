/**
 * A host: its state, allocation, maintenance window or drain progress and conditions, its tasks
 * (read through the jobs of the namespace shown: the public API has no per-host task list), and its
 * history at a chosen moment. Admins get cordon/uncordon and drain, each asking first.
 */
import { useState } from 'preact/hooks';
import type { DabbaClient } from '../../../src/client/browser.ts';
import type { HostView, TaskRow } from '../../../src/model/index.ts';
import type { PageProps } from '../app.tsx';
import { ConfirmDialog, type Pending } from '../components/confirm.tsx';
import { Badge, Bar, ErrorLine } from '../components/widgets.tsx';
import { bytes, time } from '../format.ts';
import { useLive } from '../live.ts';
import { href } from '../route.ts';
import { HostHistory } from './host-history.tsx';

/** The host's tasks: every job's tasks (8 jobs at a time), those placed on the host. */
async function tasksOn(client: DabbaClient, host: string): Promise<TaskRow[]> {
  const jobs = (await client.listJobs()).map((j) => j.job);
  const found: TaskRow[] = [];
  for (let i = 0; i < jobs.length; i += 8) {
    const rows = await Promise.all(jobs.slice(i, i + 8).map((j) => client.jobTasks(j).catch(() => [])));
    for (const r of rows.flat()) if (r.host === host) found.push(r);
  }
  return found.sort((a, b) => a.id.localeCompare(b.id));
}

async function load(
  client: DabbaClient,
  id: string,
): Promise<{ host: HostView | undefined; tasks: TaskRow[] }> {
  const [hosts, tasks] = await Promise.all([client.hosts(), tasksOn(client, id)]);
  return { host: hosts.find((h) => h.id === id), tasks };
}

function Facts({ h }: { h: HostView }) {
  return (
    <dl class="facts">
      <dt>State</dt>
      <dd>
        <Badge state={h.state} /> {h.drain ?? ''}
      </dd>
      {h.maintenance !== undefined && (
        <>
          <dt>Maintenance</dt>
          <dd data-testid="maintenance">
            {h.maintenance.reason} · from {time(h.maintenance.start)} · deadline{' '}
            {time(h.maintenance.deadline)}
          </dd>
        </>
      )}
      {h.drainDeadline !== undefined && h.maintenance === undefined && (
        <>
          <dt>Drain deadline</dt>
          <dd>{time(h.drainDeadline)}</dd>
        </>
      )}
      <dt>Labels</dt>
      <dd>
        {Object.entries(h.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ') || '–'}
      </dd>
      <dt>Runtime</dt>
      <dd>
        {h.runtime}
        {h.subnet !== undefined && ` · ${h.subnet}`}
      </dd>
      <dt>Conditions</dt>
      <dd>{h.conditions?.map((c) => c.type).join(', ') ?? 'none'}</dd>
    </dl>
  );
}

function Actions(props: { client: DabbaClient; h: HostView; tasks: TaskRow[]; ask: (p: Pending) => void }) {
  const { client, h } = props;
  const cordoned = h.state === 'cordoned' || h.state === 'draining';
  return (
    <div class="actions-bar">
      <button
        type="button"
        onClick={() =>
          props.ask({
            title: `${cordoned ? 'Uncordon' : 'Cordon'} ${h.id}`,
            preview: () =>
              Promise.resolve(
                <p>
                  {cordoned
                    ? 'New tasks may be placed on this host again.'
                    : 'No new tasks will be placed on this host; its tasks keep running.'}
                </p>,
              ),
            confirm: cordoned ? 'Uncordon' : 'Cordon',
            run: () => client.setHostSchedulable(h.id, cordoned ? 'uncordon' : 'cordon'),
          })
        }
      >
        {cordoned ? 'Uncordon' : 'Cordon'}
      </button>
      <button
        type="button"
        onClick={() =>
          props.ask({
            title: `Drain ${h.id}`,
            preview: () =>
              Promise.resolve(
                <div data-testid="drain-plan">
                  <p>No new tasks; these {props.tasks.length} tasks move to other hosts:</p>
                  <ul>
                    {props.tasks.map((t) => (
                      <li key={t.id}>{t.id}</li>
                    ))}
                  </ul>
                </div>,
              ),
            confirm: 'Drain',
            run: () => client.drainHost(h.id),
          })
        }
      >
        Drain
      </button>
    </div>
  );
}

export function HostPage(props: PageProps & { host: string }) {
  const { client, me, host } = props;
  const live = useLive(client, () => load(client, host), { key: `host ${host}`, coalesceMs: 1000 });
  const [pending, setPending] = useState<Pending | undefined>(undefined);
  const h = live.data?.host;
  const tasks = live.data?.tasks ?? [];
  return (
    <>
      <p class="crumbs">
        <a href="#/hosts">Hosts</a> / {host}
      </p>
      <h1>
        {host} {h !== undefined && <Badge state={h.state} />}
      </h1>
      <ErrorLine
        error={live.error ?? (live.data !== undefined && h === undefined ? `no host ${host}` : undefined)}
      />
      {h !== undefined && (
        <>
          {me.role === 'admin' && <Actions client={client} h={h} tasks={tasks} ask={setPending} />}
          <div class="grid">
            <section class="card">
              <h2>State</h2>
              <Facts h={h} />
            </section>
            <section class="card">
              <h2>Allocated</h2>
              <Bar
                label="CPU"
                usage
                value={h.allocated.cpu}
                max={h.capacity.cpu}
                text={`${h.allocated.cpu.toFixed(2)} / ${h.capacity.cpu}`}
              />
              <Bar
                label="memory"
                usage
                value={h.allocated.memoryBytes}
                max={h.capacity.memoryBytes}
                text={`${bytes(h.allocated.memoryBytes)} / ${bytes(h.capacity.memoryBytes)}`}
              />
            </section>
          </div>
          <h2>Tasks ({tasks.length})</h2>
          <table data-testid="host-tasks">
            <thead>
              <tr>
                <th>Task</th>
                <th>Job</th>
                <th>State</th>
                <th>Version</th>
                <th>Address</th>
                <th>Memory</th>
              </tr>
            </thead>
            <tbody>
              {tasks.map((t) => (
                <tr key={t.id} data-task={t.id}>
                  <td>
                    <a href={href('jobs', t.job, 'tasks', t.id)}>{t.id}</a>
                  </td>
                  <td>
                    <a href={href('jobs', t.job)}>{t.job}</a>
                  </td>
                  <td>
                    <Badge state={t.healthy ? 'healthy' : t.state} />
                  </td>
                  <td>v{t.version}</td>
                  <td>{t.address ?? '–'}</td>
                  <td>{t.usage === null ? '–' : bytes(t.usage.memoryBytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {me.namespaces === '*' ? (
            <HostHistory client={client} host={host} />
          ) : (
            <p class="muted">The host's history needs a token covering every namespace.</p>
          )}
        </>
      )}
      <ConfirmDialog pending={pending} onClose={(done) => (setPending(undefined), done && live.reload())} />
    </>
  );
}
