/**
 * The two text forms of a registry: OpenMetrics 1.0 (`application/openmetrics-text`) and the
 * Prometheus text format 0.0.4 (`text/plain`), plus the flat JSON map (getCounters).
 */
import { formatNumber, labelText } from './names.ts';
import { samplesOf, type CounterRegistry, type Family } from './registry.ts';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export type ExpositionFormat = 'openmetrics' | 'prometheus' | 'json';

function escapeHelp(text: string, openMetrics: boolean): string {
  const s = text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return openMetrics ? s.replace(/"/g, '\\"') : s;
}

function familyLines(f: Family, openMetrics: boolean): string[] {
  // OpenMetrics names the counter family without `_total`; the Prometheus format names it as its
  // sample (Prometheus's own client libraries do the same).
  const typeName = !openMetrics && f.kind === 'counter' ? `${f.name}_total` : f.name;
  const lines: string[] = [];
  if (f.help) lines.push(`# HELP ${typeName} ${escapeHelp(f.help, openMetrics)}`);
  lines.push(`# TYPE ${typeName} ${f.kind}`);
  for (const s of f.series.values()) {
    for (const [name, labels, value] of samplesOf(f, s)) {
      lines.push(`${name}${labelText(labels)} ${formatNumber(value)}`);
    }
  }
  return lines;
}

/** OpenMetrics text: families in registration order, ending in `# EOF`. */
export function renderOpenMetrics(registry: CounterRegistry): string {
  const lines: string[] = [];
  for (const f of registry.families()) if (f.series.size > 0) lines.push(...familyLines(f, true));
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

/** Prometheus text format 0.0.4. */
export function renderPrometheus(registry: CounterRegistry): string {
  const lines: string[] = [];
  for (const f of registry.families()) if (f.series.size > 0) lines.push(...familyLines(f, false));
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** The flat JSON map, `{"name{labels}": number}` (non-finite numbers as strings, as JSON has none). */
export function renderJson(registry: CounterRegistry): string {
  const map = registry.getCounters();
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(map)) out[k] = Number.isFinite(v) ? v : formatNumber(v);
  return `${JSON.stringify(out)}\n`;
}

/** Picks a format from an Accept header: OpenMetrics or JSON when asked for, else Prometheus text. */
export function negotiate(accept: string | undefined): ExpositionFormat {
  const a = (accept ?? '').toLowerCase();
  if (a.includes('application/openmetrics-text')) return 'openmetrics';
  if (a.includes('application/json')) return 'json';
  return 'prometheus';
}

export function render(
  registry: CounterRegistry,
  format: ExpositionFormat,
): { body: string; contentType: string } {
  switch (format) {
    case 'openmetrics':
      return { body: renderOpenMetrics(registry), contentType: OPENMETRICS_CONTENT_TYPE };
    case 'json':
      return { body: renderJson(registry), contentType: JSON_CONTENT_TYPE };
    case 'prometheus':
      return { body: renderPrometheus(registry), contentType: PROMETHEUS_CONTENT_TYPE };
  }
}
