/** The jobs list with filters (name, status, rollout, health), kept in the hash (`#/jobs?q=...`). */
import type { JobSummary } from '../../../src/model/index.ts';
import type { PageProps } from '../app.tsx';
import { Badge, ErrorLine } from '../components/widgets.tsx';
import { ago } from '../format.ts';
import { useLive } from '../live.ts';
import { href } from '../route.ts';

function setFilter(query: URLSearchParams, key: string, value: string): void {
  const q = new URLSearchParams(query);
  if (value === '') q.delete(key);
  else q.set(key, value);
  location.hash = `#/jobs${q.size > 0 ? `?${q.toString()}` : ''}`;
}

export function filterJobs(jobs: readonly JobSummary[], query: URLSearchParams): JobSummary[] {
  const text = (query.get('q') ?? '').toLowerCase();
  const status = query.get('status') ?? '';
  const health = query.get('health') ?? '';
  return jobs.filter(
    (j) =>
      j.job.toLowerCase().includes(text) &&
      (status === '' || j.status === status || (status === 'rolling' && j.deployment === 'in-progress')) &&
      (health === '' || (health === 'unhealthy') === (j.status === 'active' && j.healthy < j.replicas)),
  );
}

export function Jobs({ client, query }: PageProps & { query: URLSearchParams }) {
  const live = useLive(client, () => client.listJobs(), { key: 'jobs', coalesceMs: 500 });
  const jobs = filterJobs(live.data ?? [], query).sort((a, b) => a.job.localeCompare(b.job));
  return (
    <>
      <h1>Jobs</h1>
      <ErrorLine error={live.error} />
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Name
          <input
            type="search"
            value={query.get('q') ?? ''}
            onInput={(e) => setFilter(query, 'q', e.currentTarget.value)}
          />
        </label>
        <label>
          Status
          <select
            value={query.get('status') ?? ''}
            onChange={(e) => setFilter(query, 'status', e.currentTarget.value)}
          >
            <option value="">any</option>
            <option value="active">active</option>
            <option value="rolling">rolling out</option>
            <option value="stopped">stopped</option>
          </select>
        </label>
        <label>
          Health
          <select
            value={query.get('health') ?? ''}
            onChange={(e) => setFilter(query, 'health', e.currentTarget.value)}
          >
            <option value="">any</option>
            <option value="healthy">healthy</option>
            <option value="unhealthy">unhealthy</option>
          </select>
        </label>
      </form>
      <div class="table-wrap">
        <table>
          <caption class="sr-only">Jobs</caption>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Status</th>
              <th scope="col">Version</th>
              <th scope="col">Healthy</th>
              <th scope="col">Rollout</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {jobs.slice(0, 500).map((j) => (
              <tr key={j.job} data-job={j.job}>
                <td>
                  <a href={href('jobs', j.job)}>{j.job}</a>
                </td>
                <td>
                  <Badge state={j.status} />
                </td>
                <td>v{j.version}</td>
                <td>
                  {j.healthy}/{j.replicas}
                </td>
                <td>{j.deployment === null ? '' : <Badge state={j.deployment} />}</td>
                <td>{ago(j.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {jobs.length > 500 && <p>{jobs.length - 500} more: narrow the filter.</p>}
        {live.data !== undefined && jobs.length === 0 && <p>No jobs match.</p>}
      </div>
    </>
  );
}
