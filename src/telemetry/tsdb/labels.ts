/**
 * Series identity: a metric name plus labels. The canonical key sorts labels by name, so the same
 * set in any order is the same series; the series id is the first 64 bits of SHA-256 of that key
 * (stable across processes and replicas, written as 16 hex digits).
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../../errors/index.ts';

export type Labels = Readonly<Record<string, string>>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Checks a metric name and its labels (Prometheus naming), throwing a ValidationError. */
export function validateSeries(name: string, labels: Labels): void {
  if (!NAME.test(name)) {
    throw new ValidationError(`metric name "${name}" is not valid`, [
      { path: 'name', message: 'use letters, digits, _ and :, not starting with a digit', found: name },
    ]);
  }
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL.test(k) || k.startsWith('__')) {
      throw new ValidationError(`label name "${k}" of metric "${name}" is not valid`, [
        {
          path: `labels.${k}`,
          message: 'use letters, digits and _, not starting with a digit or "__"',
          found: k,
        },
      ]);
    }
    if (typeof v !== 'string') {
      throw new ValidationError(`label "${k}" of metric "${name}" must be a string`, [
        { path: `labels.${k}`, message: 'label values are strings', found: typeof v },
      ]);
    }
  }
}

/** Labels sorted by name (a new object). */
export function sortedLabels(labels: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) out[k] = labels[k]!;
  return out;
}

/** `name{a="x",b="y"}` with labels sorted and values JSON-quoted: one string per series. */
export function seriesKey(name: string, labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(',')}}`;
}

/** The stable 64-bit series id of a canonical key, as 16 hex digits. */
export function seriesId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}
