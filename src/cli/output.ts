/** Plain-text tables and human formats for CLI output. */
import { formatDuration, formatSize } from '../lib/index.ts';

export interface Out {
  write(text: string): void;
  isTTY: boolean;
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function ago(at: number | null | undefined, now = Date.now()): string {
  if (at === null || at === undefined) return '-';
  return formatDuration(Math.max(0, now - at));
}

export function cpu(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0+$/, '');
}

export { formatSize };
