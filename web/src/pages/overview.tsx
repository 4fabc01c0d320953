/**
 * The overview: hosts by state and rack, capacity used vs free per pool, jobs by status, rollouts in
 * progress (live), recent events with warnings first. One event stream for the page (useLive).
 */
import type { HostView, JobSummary } from '../../../src/model/index.ts';
import type { PageProps } from '../app.tsx';
import { Badge, Bar, ErrorLine } from '../components/widgets.tsx';
import { ago, bytes, isWarning } from '../format.ts';
import { useLive } from '../live.ts';
import { href } from '../route.ts';

interface Data {
  /** Undefined when the token may not list hosts (they are not shown). */
  hosts: HostView[] | undefined;
  jobs: JobSummary[];
}

export function countBy<T>(items: readonly T[], key: (t: T) => string): [string, number][] {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}

export function Overview({ client }: PageProps) {
  const live = useLive<Data>(
    client,
    async () => {
      const [hosts, jobs] = await Promise.allSettled([client.hosts(), client.listJobs()]);
      if (jobs.status === 'rejected') throw jobs.reason;
      return { hosts: hosts.status === 'fulfilled' ? hosts.value : undefined, jobs: jobs.value };
    },
    { key: 'overview' },
  );
  const d = live.data;
  const events = [...live.events].sort(
    (a, b) => Number(isWarning(b.kind)) - Number(isWarning(a.kind)) || b.at - a.at,
  );
  return (
    <>
      <h1>Overview</h1>
      <ErrorLine error={live.error} />
      {d === undefined ? (
        <p class="loading">Loading…</p>
      ) : (
        <div class="grid">
          <section aria-labelledby="ov-jobs" class="card">
            <h2 id="ov-jobs">Jobs</h2>
            <p class="big" data-testid="job-count">
              {d.jobs.length}
            </p>
            <ul class="counts">
              {countBy(d.jobs, (j) => j.status).map(([s, n]) => (
                <li key={s}>
                  <Badge state={s} /> {n}
                </li>
              ))}
              <li>
                <Badge state="unhealthy">unhealthy</Badge>{' '}
                {d.jobs.filter((j) => j.status === 'active' && j.healthy < j.replicas).length}
              </li>
            </ul>
          </section>
          <section aria-labelledby="ov-rollouts" class="card">
            <h2 id="ov-rollouts">Rollouts in progress</h2>
            <Rollouts jobs={d.jobs} />
          </section>
          {d.hosts !== undefined && <HostSummary hosts={d.hosts} />}
          <section aria-labelledby="ov-events" class="card wide">
            <h2 id="ov-events">Recent events</h2>
            <ul class="events" data-testid="events">
              {events.slice(0, 30).map((e) => (
                <li key={e.id} class={isWarning(e.kind) ? 'warn' : ''}>
                  <span class="when">{ago(e.at)}</span>{' '}
                  <Badge state={isWarning(e.kind) ? 'failed' : 'ok'}>{e.kind}</Badge>{' '}
                  {e.job !== undefined && <a href={href('jobs', e.job)}>{e.job}</a>} {e.message}
                </li>
              ))}
              {events.length === 0 && <li>No events yet.</li>}
            </ul>
          </section>
        </div>
      )}
    </>
  );
}

function Rollouts({ jobs }: { jobs: JobSummary[] }) {
  const rolling = jobs.filter((j) => j.deployment === 'in-progress');
  if (rolling.length === 0) return <p>None.</p>;
  return (
    <ul class="plain" data-testid="rollouts">
      {rolling.map((j) => (
        <li key={j.job}>
          <a href={href('jobs', j.job)}>{j.job}</a> v{j.version}
          <Bar
            label={`${j.job} healthy`}
            value={j.healthy}
            max={j.replicas}
            text={`${j.healthy}/${j.replicas} healthy`}
          />
        </li>
      ))}
    </ul>
  );
}

function HostSummary({ hosts }: { hosts: HostView[] }) {
  const pools = new Map<string, { cpu: number; cpuUsed: number; mem: number; memUsed: number }>();
  for (const h of hosts) {
    const p = h.labels['pool'] ?? 'online'; // a host without a pool label counts in online (docs/elastic.md)
    const o = pools.get(p) ?? { cpu: 0, cpuUsed: 0, mem: 0, memUsed: 0 };
    o.cpu += h.capacity.cpu;
    o.cpuUsed += h.allocated.cpu;
    o.mem += h.capacity.memoryBytes;
    o.memUsed += h.allocated.memoryBytes;
    pools.set(p, o);
  }
  return (
    <>
      <section aria-labelledby="ov-hosts" class="card">
        <h2 id="ov-hosts">Hosts</h2>
        <p class="big">{hosts.length}</p>
        <ul class="counts">
          {countBy(hosts, (h) => h.state).map(([s, n]) => (
            <li key={s}>
              <Badge state={s} /> {n}
            </li>
          ))}
        </ul>
        <h3>By rack</h3>
        <ul class="counts">
          {countBy(hosts, (h) => h.labels['rack'] ?? '(no rack)').map(([r, n]) => (
            <li key={r}>
              {r}: {n}
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="ov-capacity" class="card">
        <h2 id="ov-capacity">Capacity by pool</h2>
        {[...pools.entries()].map(([p, o]) => (
          <div key={p}>
            <h3>{p}</h3>
            <Bar
              label={`${p} CPU`}
              usage
              value={o.cpuUsed}
              max={o.cpu}
              text={`${o.cpuUsed.toFixed(2)} / ${o.cpu} CPU`}
            />
            <Bar
              label={`${p} memory`}
              usage
              value={o.memUsed}
              max={o.mem}
              text={`${bytes(o.memUsed)} / ${bytes(o.mem)}`}
            />
          </div>
        ))}
      </section>
    </>
  );
}
