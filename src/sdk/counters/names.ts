/**
 * Metric and label names, label sets and their text form (the same rules in OpenMetrics and the
 * Prometheus text format): metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names
 * `[a-zA-Z_][a-zA-Z0-9_]*` (names starting with `__` are reserved), label values any UTF-8 with
 * `\`, `"` and newline escaped.
 */
export type Labels = Readonly<Record<string, string>>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

export function isLabelName(name: string): boolean {
  return LABEL_NAME.test(name) && !name.startsWith('__');
}

/** Throws a TypeError naming the bad name: a programming error in the service, found at once. */
export function checkMetricName(name: string): void {
  if (!isMetricName(name)) {
    throw new TypeError(
      `metric name ${JSON.stringify(name)} is not valid (expected [a-zA-Z_:][a-zA-Z0-9_:]*)`,
    );
  }
}

/** Checks a label set (no reserved names, `le` only where the caller allows it). */
export function checkLabels(labels: Labels, reserved: readonly string[] = []): void {
  for (const [k, v] of Object.entries(labels)) {
    if (!isLabelName(k) || reserved.includes(k)) {
      throw new TypeError(`label name ${JSON.stringify(k)} is not valid or reserved`);
    }
    if (typeof v !== 'string') throw new TypeError(`label ${k} must have a string value`);
  }
}

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `{a="1",b="2"}` with names sorted, or '' for no labels: also the key of a series. */
export function labelText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabelValue(labels[k] ?? '')}"`).join(',')}}`;
}

/** A number as both text formats write it: integers plainly, +Inf/-Inf/NaN spelled out. */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
