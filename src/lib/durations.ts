/** Strict duration parsing: "250ms", "2s", "5m", "1h30m". Bare numbers are refused. */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;

/** Parses a duration into milliseconds, or returns an error message. */
export function parseDuration(text: string): { ok: true; ms: number } | { ok: false; error: string } {
  const s = text.trim();
  if (s === '') return { ok: false, error: 'empty duration' };
  if (s === '0') return { ok: true, ms: 0 };
  let total = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < s.length) {
    PART.lastIndex = pos;
    const m = PART.exec(s);
    if (!m || m[1] === undefined || m[2] === undefined) {
      return {
        ok: false,
        error: `"${text}" is not a duration (use a number with a unit: 500ms, 2s, 5m, 1h30m)`,
      };
    }
    total += Number(m[1]) * (UNITS[m[2]] ?? 0);
    pos = PART.lastIndex;
  }
  if (!Number.isFinite(total)) return { ok: false, error: `"${text}" is too large` };
  return { ok: true, ms: Math.round(total) };
}

/** Formats milliseconds as a short human duration ("1.5s", "2m3s"). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)}s`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s > 0 ? `${s}s` : ''}` || '0s';
}
