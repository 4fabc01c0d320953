/**
 * The service graph's layout: services are nodes, a declared upstream is an edge from the caller to
 * it. Callers sit left of what they call: a node's column is its longest call chain from a service
 * nobody calls (cycles are cut where they close), rows in name order within a column.
 */
import type { MeshConfig } from '../../../src/model/mesh.ts';

export interface GraphNode {
  name: string;
  column: number;
  row: number;
}

export interface GraphEdge {
  from: string;
  to: string;
  timeoutMs: number;
  retries: number;
}

export function meshGraph(config: MeshConfig): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const edges: GraphEdge[] = [];
  const names = new Set(Object.keys(config.services));
  for (const [from, s] of Object.entries(config.services))
    for (const [to, u] of Object.entries(s.upstreams)) {
      names.add(to);
      edges.push({ from, to, timeoutMs: u.timeoutMs, retries: u.retries.max });
    }
  const column = new Map<string, number>();
  const depth = (n: string, path: ReadonlySet<string>): number => {
    const known = column.get(n);
    if (known !== undefined) return known;
    let d = 0;
    for (const e of edges)
      if (e.to === n && !path.has(e.from)) d = Math.max(d, depth(e.from, new Set([...path, n])) + 1);
    column.set(n, d);
    return d;
  };
  const sorted = [...names].sort();
  for (const n of sorted) depth(n, new Set([n]));
  const rows = new Map<number, number>();
  const nodes = sorted.map((name) => {
    const c = column.get(name) ?? 0;
    const r = rows.get(c) ?? 0;
    rows.set(c, r + 1);
    return { name, column: c, row: r };
  });
  return { nodes, edges };
}
