/** Small formatting helpers for tables. */
export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i] ?? ''}`;
}

/**
 * A chart value in a few characters: three significant digits without trailing zeros, and SI
 * prefixes from 10,000 up (1769472 -> "1.77M"), as dashboards usually print them.
 */
export function chartValue(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  const a = Math.abs(v);
  if (a >= 10_000) {
    const prefixes = ['k', 'M', 'G', 'T', 'P', 'E'];
    let i = Math.min(prefixes.length, Math.floor(Math.log10(a) / 3));
    let scaled = Number((v / 10 ** (3 * i)).toPrecision(3));
    // 999,999 rounds to 1000k: say 1M.
    if (Math.abs(scaled) >= 1000 && i < prefixes.length)
      scaled = Number((v / 10 ** (3 * ++i)).toPrecision(3));
    return `${scaled}${prefixes[i - 1] ?? ''}`;
  }
  if (Number.isInteger(v)) return String(v);
  return a >= 100 ? String(Number(v.toFixed(1))) : String(Number(v.toPrecision(3)));
}

export function time(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** Events that deserve attention come first in the overview. */
export function isWarning(kind: string): boolean {
  return /fail|unhealthy|crash|lost|kill|unplace|rollback|deadline|oom|error|exited|drain-forced/.test(kind);
}

/** A line diff (longest common subsequence) of two texts: ' ' kept, '-' only in a, '+' only in b. */
export function lineDiff(a: string, b: string): { op: ' ' | '-' | '+'; line: string }[] {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) {
      const row = lcs[i] ?? [];
      row[j] =
        x[i] === y[j] ? (lcs[i + 1]?.[j + 1] ?? 0) + 1 : Math.max(lcs[i + 1]?.[j] ?? 0, row[j + 1] ?? 0);
    }
  const out: { op: ' ' | '-' | '+'; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push({ op: ' ', line: x[i] ?? '' });
      i++;
      j++;
    } else if ((lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0)) out.push({ op: '-', line: x[i++] ?? '' });
    else out.push({ op: '+', line: y[j++] ?? '' });
  }
  while (i < n) out.push({ op: '-', line: x[i++] ?? '' });
  while (j < m) out.push({ op: '+', line: y[j++] ?? '' });
  return out;
}
