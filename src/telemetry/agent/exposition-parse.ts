/**
 * Reading what a task serves at its metrics endpoint: Prometheus text (0.0.4), OpenMetrics text, or
 * a flat JSON map of name -> number (FB303's getCounters; keys may carry `{label="value"}`).
 *
 * The input is untrusted: a task may serve anything. Parsing never throws; bad lines are skipped
 * and counted, and the number of samples, labels per sample and the length of names and values are
 * capped (the excess is counted as dropped), so one task cannot make the agent use unbounded
 * memory or ship unbounded series.
 */
import type { Sample, SeriesKind } from './wire.ts';

export interface ParseLimits {
  /** Most samples taken from one scrape (default 5,000). */
  maxSamples: number;
  /** Most labels on one sample (default 32). */
  maxLabels: number;
  /** Longest metric or label name (default 200). */
  maxNameLength: number;
  /** Longest label value (default 512). */
  maxValueLength: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = {
  maxSamples: 5_000,
  maxLabels: 32,
  maxNameLength: 200,
  maxValueLength: 512,
};

export interface ParseResult {
  samples: Sample[];
  /** Lines (or JSON entries) that were not valid and were skipped. */
  invalid: number;
  /** Valid samples left out because a limit was reached. */
  dropped: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

type FamilyType = 'counter' | 'gauge' | 'histogram' | 'gaugehistogram' | 'summary' | 'untyped' | 'other';

/** The kind a sample is stored as, from its family's declared type and the sample's suffix. */
function kindOf(type: FamilyType | undefined, sampleName: string, family: string | undefined): SeriesKind {
  const suffix = family !== undefined && sampleName.startsWith(family) ? sampleName.slice(family.length) : '';
  switch (type) {
    case 'counter':
      return 'counter';
    case 'histogram':
      return 'histogram';
    case 'summary':
      return suffix === '_count' || suffix === '_sum' ? 'counter' : 'gauge';
    case 'gauge':
    case 'gaugehistogram':
    case 'untyped':
    case 'other':
      return 'gauge';
    case undefined:
      return guessKind(sampleName);
  }
}

/** Without a TYPE line (or in a JSON map): names ending in _total, _count, _sum or _bucket count. */
export function guessKind(name: string): SeriesKind {
  return /_(total|count|sum|bucket)$/.test(name) ? 'counter' : 'gauge';
}

function parseNumber(s: string): number | undefined {
  switch (s) {
    case '+Inf':
    case 'Inf':
    case '+inf':
    case 'inf':
      return Infinity;
    case '-Inf':
    case '-inf':
      return -Infinity;
    case 'NaN':
    case 'nan':
      return NaN;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

/**
 * Parses `{a="x",b="y"}` starting at `text[at] === '{'`. Returns the labels and the index after
 * `}`, or undefined when malformed or over the limits.
 */
export function parseLabels(
  text: string,
  at: number,
  limits: ParseLimits,
): { labels: Record<string, string>; end: number } | undefined {
  const labels: Record<string, string> = {};
  let i = at + 1;
  let count = 0;
  for (;;) {
    while (text[i] === ' ') i++;
    if (text[i] === '}') return { labels, end: i + 1 };
    const nameMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i, i + limits.maxNameLength + 1));
    if (!nameMatch) return undefined;
    const name = nameMatch[0];
    if (name.length > limits.maxNameLength) return undefined;
    i += name.length;
    while (text[i] === ' ') i++;
    if (text[i] !== '=') return undefined;
    i++;
    while (text[i] === ' ') i++;
    if (text[i] !== '"') return undefined;
    i++;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined || c === '\n') return undefined;
      if (c === '"') break;
      if (c === '\\') {
        const n = text[i + 1];
        if (n === 'n') value += '\n';
        else if (n === '\\' || n === '"') value += n;
        else return undefined;
        i += 2;
      } else {
        value += c;
        i++;
      }
      if (value.length > limits.maxValueLength) return undefined;
    }
    i++;
    if (++count > limits.maxLabels) return undefined;
    if (Object.hasOwn(labels, name)) return undefined;
    labels[name] = value;
    while (text[i] === ' ') i++;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') return undefined;
  }
}

/** Prometheus text 0.0.4 or OpenMetrics 1.0 (exemplars and timestamps are read past and ignored). */
export function parsePrometheusText(text: string, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParseResult {
  const samples: Sample[] = [];
  let invalid = 0;
  let dropped = 0;
  const types = new Map<string, FamilyType>();
  let current: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line === '# EOF') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+TYPE\s+(\S+)\s+(\S+)\s*$/.exec(line);
      if (m) {
        const [, name = '', type = ''] = m;
        const t = type.toLowerCase();
        const known = ['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'untyped'].includes(t);
        if (METRIC_NAME.test(name) && name.length <= limits.maxNameLength && types.size < limits.maxSamples) {
          types.set(name, known ? (t as FamilyType) : 'other');
          current = name;
        }
      }
      continue;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line.slice(0, limits.maxNameLength + 1));
    if (!nameMatch || nameMatch[0].length > limits.maxNameLength) {
      invalid++;
      continue;
    }
    const name = nameMatch[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') {
      const l = parseLabels(line, i, limits);
      if (l === undefined) {
        invalid++;
        continue;
      }
      labels = l.labels;
      i = l.end;
    }
    if (line[i] !== ' ' && line[i] !== '\t') {
      invalid++;
      continue;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = parseNumber(rest[0] ?? '');
    if (value === undefined) {
      invalid++;
      continue;
    }
    if (samples.length >= limits.maxSamples) {
      dropped++;
      continue;
    }
    const family = familyOf(name, current, types);
    samples.push({
      name,
      labels,
      kind: kindOf(family === undefined ? undefined : types.get(family), name, family),
      value,
    });
  }
  return { samples, invalid, dropped };
}

/** The family a sample belongs to: the current TYPE's when its name extends it, else its own. */
function familyOf(
  name: string,
  current: string | undefined,
  types: Map<string, FamilyType>,
): string | undefined {
  if (current !== undefined && (name === current || name.startsWith(current + '_'))) return current;
  if (types.has(name)) return name;
  for (const suffix of ['_total', '_bucket', '_count', '_sum', '_created']) {
    if (name.endsWith(suffix) && types.has(name.slice(0, -suffix.length)))
      return name.slice(0, -suffix.length);
  }
  return undefined;
}

/** A flat JSON object of name (optionally with `{labels}`) -> number; other values are skipped. */
export function parseJsonMap(text: string, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParseResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { samples: [], invalid: 1, dropped: 0 };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { samples: [], invalid: 1, dropped: 0 };
  }
  const samples: Sample[] = [];
  let invalid = 0;
  let dropped = 0;
  for (const [key, raw] of Object.entries(parsed as Record<string, unknown>)) {
    const value = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseNumber(raw) : undefined;
    const brace = key.indexOf('{');
    const name = brace < 0 ? key : key.slice(0, brace);
    if (value === undefined || name.length > limits.maxNameLength || !METRIC_NAME.test(name)) {
      invalid++;
      continue;
    }
    let labels: Record<string, string> = {};
    if (brace >= 0) {
      const l = parseLabels(key, brace, limits);
      if (l === undefined || l.end !== key.length) {
        invalid++;
        continue;
      }
      labels = l.labels;
    }
    if (samples.length >= limits.maxSamples) {
      dropped++;
      continue;
    }
    samples.push({ name, labels, kind: guessKind(name), value });
  }
  return { samples, invalid, dropped };
}

/** Picks the parser from the content type, else from the body's first character. */
export function parseExposition(
  body: string,
  contentType: string | undefined,
  limits: ParseLimits = DEFAULT_PARSE_LIMITS,
): ParseResult {
  const json = (contentType?.toLowerCase().includes('json') ?? false) || body.trimStart().startsWith('{');
  return json ? parseJsonMap(body, limits) : parsePrometheusText(body, limits);
}
