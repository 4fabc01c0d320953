/** Hosts grouped by datacenter and rack, with allocation bars (CPU, memory) and state. */
import type { HostView } from '../../../src/model/index.ts';
import type { PageProps } from '../app.tsx';
import { Badge, Bar, ErrorLine } from '../components/widgets.tsx';
import { bytes } from '../format.ts';
import { useLive } from '../live.ts';
import { href } from '../route.ts';

export function groupHosts(hosts: readonly HostView[]): [string, HostView[]][] {
  const groups = new Map<string, HostView[]>();
  for (const h of hosts) {
    const dc = h.labels['datacenter'] ?? h.labels['dc'] ?? h.labels['region'];
    const rack = h.labels['rack'] ?? '(no rack)';
    const key = dc === undefined ? rack : `${dc} / ${rack}`;
    groups.set(key, [...(groups.get(key) ?? []), h]);
  }
  return [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}

export function Hosts({ client }: PageProps) {
  const live = useLive(client, () => client.hosts(), { key: 'hosts', coalesceMs: 1000 });
  return (
    <>
      <h1>Hosts</h1>
      <ErrorLine error={live.error} />
      {groupHosts(live.data ?? []).map(([group, hosts]) => (
        <section key={group} aria-label={`rack ${group}`} class="rack">
          <h2>{group}</h2>
          <div class="grid">
            {hosts.map((h) => (
              <article key={h.id} class="card host" data-host={h.id}>
                <h3>
                  <a href={href('hosts', h.id)}>{h.id}</a> <Badge state={h.state} />
                </h3>
                <Bar
                  label={`${h.id} CPU`}
                  usage
                  value={h.allocated.cpu}
                  max={h.capacity.cpu}
                  text={`${h.allocated.cpu.toFixed(2)} / ${h.capacity.cpu} CPU`}
                />
                <Bar
                  label={`${h.id} memory`}
                  usage
                  value={h.allocated.memoryBytes}
                  max={h.capacity.memoryBytes}
                  text={`${bytes(h.allocated.memoryBytes)} / ${bytes(h.capacity.memoryBytes)}`}
                />
                <p>
                  {h.tasks} tasks · {h.runtime}
                  {h.drain !== undefined && ` · ${h.drain}`}
                  {h.conditions?.map((c) => ` · ${JSON.stringify(c)}`)}
                </p>
              </article>
            ))}
          </div>
        </section>
      ))}
    </>
  );
}
