/** Strict byte-size parsing in Kubernetes notation: 64Mi, 1Gi, 500M, 1024. */

const UNITS: Record<string, number> = {
  '': 1,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  K: 1000,
  M: 1000 ** 2,
  G: 1000 ** 3,
  T: 1000 ** 4,
};
const SIZE = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/;

export function parseSize(text: string): { ok: true; bytes: number } | { ok: false; error: string } {
  const m = SIZE.exec(text.trim());
  if (!m || m[1] === undefined) {
    return { ok: false, error: `"${text}" is not a size (use a number with a unit: 512Ki, 64Mi, 2Gi)` };
  }
  const bytes = Math.round(Number(m[1]) * (UNITS[m[2] ?? ''] ?? 1));
  if (!Number.isSafeInteger(bytes)) return { ok: false, error: `"${text}" is too large` };
  return { ok: true, bytes };
}

/** Formats bytes with a binary unit ("64Mi", "1.5Gi"). */
export function formatSize(bytes: number): string {
  const units = ['', 'Ki', 'Mi', 'Gi', 'Ti'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const n = Number.isInteger(v) ? String(v) : v.toFixed(1);
  return `${n}${units[i] ?? ''}`;
}

/** CPUs for people: 0.1 + 0.2 prints as 0.3 (at most three decimals; CPU has a resolution of 1m). */
export function formatCpu(cpu: number): string {
  return String(Number(cpu.toFixed(3)));
}
