/**
 * The service mesh: the graph of the dependency file (`GET /v1/mesh`; an edge per declared upstream,
 * with its timeout and retries) drawn as SVG, each service with how many of its tasks are endpoints
 * now (`GET /v1/services`), and the file's versions. Edges carry their request and 5xx rates where
 * the proxies ship them to the telemetry store (mesh-rates.ts), else the declared timeout and retries.
 */
import type { MeshVersion, ServiceSummary } from '../../../src/model/mesh.ts';
import type { PageProps } from '../app.tsx';
import { ErrorLine } from '../components/widgets.tsx';
import { time } from '../format.ts';
import { useLive } from '../live.ts';
import { href } from '../route.ts';
import { meshGraph, type GraphNode } from './mesh-graph.ts';
import { edgeRates, rateText, type EdgeRates } from './mesh-rates.ts';

const W = 170;
const H = 44;
const GAP_X = 90;
const GAP_Y = 28;
const x = (n: GraphNode): number => 10 + n.column * (W + GAP_X);
const y = (n: GraphNode): number => 10 + n.row * (H + GAP_Y);

function Graph(props: { mesh: MeshVersion; services: ServiceSummary[]; rates: Map<string, EdgeRates> }) {
  const { nodes, edges } = meshGraph(props.mesh.config);
  const at = new Map(nodes.map((n) => [n.name, n]));
  const ready = new Map(props.services.map((s) => [s.service, s]));
  const width = Math.max(...nodes.map((n) => x(n) + W), 200) + 10;
  const height = Math.max(...nodes.map((n) => y(n) + H), 60) + 10;
  return (
    <svg
      class="mesh-graph"
      role="img"
      aria-label={`service graph: ${edges.map((e) => `${e.from} calls ${e.to}`).join(', ')}`}
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
    >
      <defs>
        <marker
          id="arrow"
          viewBox="0 0 10 10"
          refX="10"
          refY="5"
          markerWidth="8"
          markerHeight="8"
          orient="auto"
        >
          <path d="M0,0 L10,5 L0,10 z" class="mesh-arrow" />
        </marker>
      </defs>
      {edges.map((e) => {
        const a = at.get(e.from);
        const b = at.get(e.to);
        if (a === undefined || b === undefined) return null;
        const [x1, y1, x2, y2] = [x(a) + W, y(a) + H / 2, x(b), y(b) + H / 2];
        const back = x2 <= x1;
        const d = back
          ? `M${x(a) + W / 2},${y(a) + H} C${x(a) + W / 2},${y(a) + H + 40} ${x(b) + W / 2},${y(b) + H + 40} ${x(b) + W / 2},${y(b) + H}`
          : `M${x1},${y1} C${x1 + GAP_X / 2},${y1} ${x2 - GAP_X / 2},${y2} ${x2},${y2}`;
        const rates = props.rates.get(`${e.from}>${e.to}`);
        const failing = rates !== undefined && rates.errors > 0;
        return (
          <g key={`${e.from}>${e.to}`} data-edge={`${e.from}>${e.to}`}>
            <path d={d} class={`mesh-edge ${failing ? 'failing' : ''}`} marker-end="url(#arrow)" />
            <text x={(x1 + x2) / 2} y={(y1 + y2) / 2 - 6} class="mesh-edge-label" text-anchor="middle">
              {rateText(rates) ?? `${e.timeoutMs} ms · ${e.retries} retries`}
            </text>
          </g>
        );
      })}
      {nodes.map((n) => {
        const s = ready.get(n.name);
        const ok = s !== undefined && s.ready >= s.replicas && s.replicas > 0;
        return (
          <a key={n.name} href={href('jobs', n.name)} data-node={n.name}>
            <rect x={x(n)} y={y(n)} width={W} height={H} rx={6} class={`mesh-node ${ok ? 'ok' : 'warn'}`} />
            <text x={x(n) + 10} y={y(n) + 18} class="mesh-name">
              {n.name}
            </text>
            <text x={x(n) + 10} y={y(n) + 35} class="mesh-sub">
              {s === undefined ? 'not running here' : `${s.ready}/${s.replicas} ready`}
            </text>
          </a>
        );
      })}
    </svg>
  );
}

export function MeshPage({ client }: PageProps) {
  const live = useLive(
    client,
    async () => {
      const [mesh, versions, services, rates] = await Promise.all([
        client.mesh(),
        client.meshVersions(),
        client.services(),
        edgeRates(client).catch(() => new Map<string, EdgeRates>()),
      ]);
      return { mesh, versions, services, rates };
    },
    { key: 'mesh', coalesceMs: 1000 },
  );
  const d = live.data;
  return (
    <>
      <h1>Service mesh</h1>
      <ErrorLine error={live.error} />
      {d !== undefined && d.mesh === null && (
        <p class="muted">No dependency file yet (`dabba mesh apply FILE`).</p>
      )}
      {d?.mesh && (
        <>
          <p>
            Dependency file v{d.mesh.version} · {d.mesh.message} ({d.mesh.author}, {time(d.mesh.createdAt)})
          </p>
          <div class="mesh-scroll">
            <Graph mesh={d.mesh} services={d.services} rates={d.rates} />
          </div>
          <h2>Versions</h2>
          <table data-testid="mesh-versions">
            <thead>
              <tr>
                <th>Version</th>
                <th>When</th>
                <th>Author</th>
                <th>Message</th>
              </tr>
            </thead>
            <tbody>
              {[...d.versions]
                .sort((a, b) => b.version - a.version)
                .map((v) => (
                  <tr key={v.version}>
                    <td>
                      v{v.version}
                      {v.restores !== undefined && ` (= v${v.restores})`}
                    </td>
                    <td>{time(v.createdAt)}</td>
                    <td>{v.author}</td>
                    <td>{v.message}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}
