/**
 * A job: its tasks (state, health, restarts, host, address, usage), the current deployment's live
 * progress, why unplaced tasks have no host, its versions and their outcomes with a diff between any
 * two, and (for tokens that write) the actions, each confirmed with what it will do.
 */
import { useState } from 'preact/hooks';
import type { Deployment, JobVersionRecord, JobView, TaskRow } from '../../../src/model/index.ts';
import { formatExplanation } from '../../../src/model/explanation.ts';
import type { PageProps } from '../app.tsx';
import { ConfirmDialog, type Pending } from '../components/confirm.tsx';
import { jobBoardName } from './board-defaults.ts';
import { Badge, Bar, Diff, ErrorLine } from '../components/widgets.tsx';
import { ago, bytes } from '../format.ts';
import { useLive } from '../live.ts';
import { href } from '../route.ts';
import { JobActions, specText } from './job-actions.tsx';

interface Data {
  view: JobView;
  versions: JobVersionRecord[];
  deployments: Deployment[];
}

export function JobPage({ client, write, job }: PageProps & { job: string }) {
  const [pending, setPending] = useState<Pending | undefined>(undefined);
  const live = useLive<Data>(
    client,
    async () => {
      const [view, versions, deployments] = await Promise.all([
        client.getJob(job),
        client.jobVersions(job),
        client.jobDeployments(job),
      ]);
      return { view, versions, deployments };
    },
    { key: `job:${job}`, job },
  );
  const d = live.data;
  return (
    <>
      <p class="crumbs">
        <a href="#/jobs">Jobs</a> / {job}
      </p>
      <h1>
        {job} {d !== undefined && <Badge state={d.view.status} />}
      </h1>
      <ErrorLine error={live.error} />
      {d === undefined ? (
        <p class="loading">Loading…</p>
      ) : (
        <>
          <p>
            Version v{d.view.version} · {d.view.counts.healthy}/{d.view.replicas} healthy ·{' '}
            {d.view.counts.running} running · {d.view.counts.pending} pending · {d.view.counts.failed} failed
            · <a href={href('dashboards', jobBoardName(job))}>Dashboard</a>
          </p>
          {write && <JobActions client={client} view={d.view} versions={d.versions} ask={setPending} />}
          <DeploymentCard dep={d.view.deployment} />
          <Unplaced tasks={d.view.tasks} />
          <TaskTable job={job} tasks={d.view.tasks} />
          <Versions versions={d.versions} deployments={d.deployments} current={d.view.version} />
        </>
      )}
      <ConfirmDialog
        pending={pending}
        onClose={(done) => {
          setPending(undefined);
          if (done) live.reload();
        }}
      />
    </>
  );
}

function DeploymentCard({ dep }: { dep: Deployment | null }) {
  if (dep === null) return null;
  return (
    <section class="card" aria-labelledby="dep-h" data-testid="deployment" data-state={dep.state}>
      <h2 id="dep-h">
        Deployment v{dep.fromVersion} → v{dep.version} <Badge state={dep.state} />
        {dep.phase !== undefined && <Badge state={dep.phase} />}
      </h2>
      <Bar label="placed" value={dep.placed} max={dep.desired} text={`${dep.placed}/${dep.desired} placed`} />
      <Bar
        label="running"
        value={dep.running}
        max={dep.desired}
        text={`${dep.running}/${dep.desired} running`}
      />
      <Bar
        label="healthy"
        value={dep.healthy}
        max={dep.desired}
        text={`${dep.healthy}/${dep.desired} healthy`}
      />
      <p>
        {dep.message} {dep.old > 0 && `· ${dep.old} old tasks left`} · started {ago(dep.startedAt)}
      </p>
    </section>
  );
}

function Unplaced({ tasks }: { tasks: TaskRow[] }) {
  const unplaced = tasks.filter((t) => t.host === null && t.desired === 'run' && t.unplaced !== null);
  if (unplaced.length === 0) return null;
  const first = unplaced[0];
  return (
    <section class="card warn" aria-labelledby="unplaced-h" data-testid="unplaced">
      <h2 id="unplaced-h">
        {unplaced.length} task{unplaced.length === 1 ? '' : 's'} not placed
      </h2>
      <pre>
        {first?.explanation
          ? formatExplanation(first.explanation, 'why').join('\n')
          : (first?.unplaced ?? '')}
      </pre>
    </section>
  );
}

function TaskTable({ job, tasks }: { job: string; tasks: TaskRow[] }) {
  const shown = tasks.filter((t) => t.desired === 'run' || t.state === 'running');
  return (
    <section aria-labelledby="tasks-h">
      <h2 id="tasks-h">Tasks</h2>
      <div class="table-wrap">
        <table data-testid="tasks">
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">State</th>
              <th scope="col">Health</th>
              <th scope="col">Restarts</th>
              <th scope="col">Version</th>
              <th scope="col">Host</th>
              <th scope="col">Address</th>
              <th scope="col">Usage</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((t) => (
              <tr key={t.id} data-task={t.id}>
                <td>
                  <a href={href('jobs', job, 'tasks', t.id)}>{t.id}</a>
                </td>
                <td>
                  <Badge state={t.state} />
                </td>
                <td>{t.state !== 'running' ? '' : <Badge state={t.healthy ? 'healthy' : 'unhealthy'} />}</td>
                <td>{t.restarts}</td>
                <td>v{t.version}</td>
                <td>{t.host ?? <em>unplaced</em>}</td>
                <td>{t.address ?? ''}</td>
                <td>
                  {t.usage === null
                    ? ''
                    : `${t.usage.cpuSeconds.toFixed(1)} CPU·s, ${bytes(t.usage.memoryBytes)}, ${t.usage.pids} pids`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Versions(props: { versions: JobVersionRecord[]; deployments: Deployment[]; current: number }) {
  const sorted = [...props.versions].sort((a, b) => b.version - a.version);
  const [a, setA] = useState(String(sorted[1]?.version ?? sorted[0]?.version ?? ''));
  const [b, setB] = useState(String(sorted[0]?.version ?? ''));
  const outcome = (v: number): string =>
    props.deployments.filter((d) => d.version === v).sort((x, y) => y.startedAt - x.startedAt)[0]?.state ??
    '';
  const pick = (v: string): JobVersionRecord | undefined =>
    props.versions.find((x) => String(x.version) === v);
  return (
    <section aria-labelledby="versions-h">
      <h2 id="versions-h">Versions</h2>
      <ul class="plain versions">
        {sorted.map((v) => (
          <li key={v.version}>
            v{v.version} {v.version === props.current && <Badge state="current" />}{' '}
            {outcome(v.version) !== '' && <Badge state={outcome(v.version)} />}{' '}
            <span class="when">{ago(v.createdAt)}</span>
          </li>
        ))}
      </ul>
      {sorted.length > 1 && (
        <>
          <div class="filters">
            <label>
              Diff from
              <select value={a} onChange={(e) => setA(e.currentTarget.value)}>
                {sorted.map((v) => (
                  <option key={v.version} value={String(v.version)}>
                    v{v.version}
                  </option>
                ))}
              </select>
            </label>
            <label>
              to
              <select value={b} onChange={(e) => setB(e.currentTarget.value)}>
                {sorted.map((v) => (
                  <option key={v.version} value={String(v.version)}>
                    v{v.version}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <Diff label={`diff v${a} to v${b}`} a={specText(pick(a))} b={specText(pick(b))} />
        </>
      )}
    </section>
  );
}
