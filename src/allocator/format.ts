/** Number and resource formatting shared by the plugins' reasons and the summaries. */
import { formatCpu, formatSize } from '../lib/sizes.ts';

export { formatCpu };

/** "4 CPUs", "1 CPU", "0.5 CPU". */
export function cpus(cpu: number): string {
  return `${formatCpu(cpu)} ${cpu > 1 ? 'CPUs' : 'CPU'}`;
}

export function memory(bytes: number): string {
  return formatSize(Math.max(0, Math.round(bytes)));
}

export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** "h1, h2, h3 and 4 more" */
export function listSome(items: readonly string[], limit = 3): string {
  if (items.length <= limit) return items.join(', ');
  return `${items.slice(0, limit).join(', ')} and ${items.length - limit} more`;
}

/** "cpu 4, memory 64Mi, pids 64" (and ", ports 80, 443" when there are ports). */
export function formatNeeds(n: {
  cpu: number;
  memoryBytes: number;
  pids: number;
  ports: readonly number[];
}): string {
  const ports = n.ports.length > 0 ? `, ports ${n.ports.join(', ')}` : '';
  return `cpu ${formatCpu(n.cpu)}, memory ${memory(n.memoryBytes)}, pids ${n.pids}${ports}`;
}
