/**
 * Checking an ingest batch (`POST /v1/metrics/ingest`) before anything is stored: the shape, the
 * names and labels (Prometheus rules, as the store's), and the limits of INGEST_LIMITS. A batch with
 * any problem is refused whole (400 with the field's path), so nothing is half applied.
 */
import { ValidationError } from '../../errors/index.ts';
import { INGEST_LIMITS, type IngestBatch, type IngestSeries, type MetricKind } from '../../model/index.ts';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const HOST = /^[a-zA-Z0-9][a-zA-Z0-9._:-]{0,127}$/;
const KINDS: ReadonlySet<string> = new Set<MetricKind>(['counter', 'gauge', 'histogram']);

function bad(path: string, message: string, found?: unknown): never {
  throw new ValidationError(`invalid metrics batch: ${path}: ${message}`, [
    {
      path,
      message,
      ...(found === undefined ? {} : { found: JSON.stringify(found)?.slice(0, 100) ?? 'undefined' }),
    },
  ]);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The batch, checked; throws a ValidationError naming the first problem and where it is. */
export function parseIngestBatch(body: unknown): IngestBatch {
  if (!isObject(body)) bad('(root)', 'expected an object { host, seq, series }');
  const { host, seq, spool, series } = body;
  if (typeof host !== 'string' || !HOST.test(host))
    bad('host', 'the host id (letters, digits, ".", "_", ":", "-"; at most 128)', host);
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)
    bad('seq', 'a whole number >= 0 (the spool batch number)', seq);
  if (spool !== undefined && (typeof spool !== 'string' || spool.length === 0 || spool.length > 128))
    bad('spool', 'a string of 1 to 128 characters', spool);
  if (!Array.isArray(series)) bad('series', 'expected an array of series');
  if (series.length > INGEST_LIMITS.series)
    bad('series', `at most ${INGEST_LIMITS.series} series per batch: send smaller batches`, series.length);
  let points = 0;
  const out: IngestSeries[] = [];
  for (let i = 0; i < series.length; i++) {
    const s = parseSeries(series[i], `series[${i}]`);
    points += s.samples.length;
    if (points > INGEST_LIMITS.points)
      bad('series', `at most ${INGEST_LIMITS.points} points per batch: send smaller batches`, points);
    out.push(s);
  }
  return { host, seq, ...(spool === undefined ? {} : { spool }), series: out };
}

function parseSeries(s: unknown, at: string): IngestSeries {
  if (!isObject(s)) bad(at, 'expected an object { name, labels, kind, samples }');
  const { name, labels, kind, samples } = s;
  if (typeof name !== 'string' || name.length > INGEST_LIMITS.nameLength || !NAME.test(name))
    bad(`${at}.name`, 'a metric name: letters, digits, _ and :, not starting with a digit', name);
  if (typeof kind !== 'string' || !KINDS.has(kind)) bad(`${at}.kind`, 'counter, gauge or histogram', kind);
  const ls: Record<string, string> = {};
  if (labels !== undefined) {
    if (!isObject(labels)) bad(`${at}.labels`, 'expected an object of string labels');
    const keys = Object.keys(labels);
    if (keys.length > INGEST_LIMITS.labels)
      bad(`${at}.labels`, `at most ${INGEST_LIMITS.labels} labels per series`, keys.length);
    for (const k of keys) {
      const v = labels[k];
      if (k.length > INGEST_LIMITS.labelNameLength || !LABEL.test(k) || k.startsWith('__'))
        bad(`${at}.labels.${k}`, 'a label name: letters, digits and _, not starting with a digit or "__"', k);
      if (typeof v !== 'string' || v.length > INGEST_LIMITS.labelValueLength)
        bad(`${at}.labels.${k}`, `a string of at most ${INGEST_LIMITS.labelValueLength} characters`, v);
      ls[k] = v;
    }
  }
  if (!Array.isArray(samples)) bad(`${at}.samples`, 'expected an array of [tMs, value] pairs');
  if (samples.length > INGEST_LIMITS.samplesPerSeries)
    bad(`${at}.samples`, `at most ${INGEST_LIMITS.samplesPerSeries} samples per series`, samples.length);
  for (let j = 0; j < samples.length; j++) {
    const p: unknown = samples[j];
    if (!Array.isArray(p) || p.length !== 2) bad(`${at}.samples[${j}]`, 'expected [tMs, value]');
    const [t, v] = p as unknown[];
    if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0)
      bad(`${at}.samples[${j}][0]`, 'a time in whole milliseconds since the epoch', t);
    if (v !== null && typeof v !== 'number')
      bad(`${at}.samples[${j}][1]`, 'a number (or null for a staleness marker)', v);
  }
  return { name, labels: ls, kind: kind as MetricKind, samples: samples as IngestSeries['samples'] };
}
