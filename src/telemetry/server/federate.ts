/**
 * Federation (`GET /federate?match[]=SELECTOR`): the latest sample of every stored series that one
 * of the selectors matches, in the Prometheus text format with timestamps (ms), as Prometheus's own
 * `/federate` answers. Selectors: `name`, `name{l="v",l2=~"re"}`, `{__name__=~"re",l!="v"}` with
 * `=`, `!=`, `=~`, `!~` (regular expressions anchored).
 */
import { ValidationError } from '../../errors/index.ts';
import type { Matcher, SeriesInfo, TimeSeriesStore } from '../tsdb/index.ts';
import { formatValue } from './registry.ts';

export interface Selector {
  matchers: Matcher[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(!=|=~|!~|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|})/;

function bad(text: string, message: string): never {
  throw new ValidationError(`match[]: ${message}`, [{ path: 'match[]', message, found: text }]);
}

/** Parses one series selector; throws a ValidationError saying what is wrong. */
export function parseSelector(text: string): Selector {
  const matchers: Matcher[] = [];
  let rest = text.trim();
  const name = NAME.exec(rest);
  if (name) {
    matchers.push({ label: '__name__', op: '=', value: name[0] });
    rest = rest.slice(name[0].length).trim();
  }
  if (rest.startsWith('{')) {
    rest = rest.slice(1).trim();
    if (rest.startsWith('}')) rest = rest.slice(1);
    else
      for (;;) {
        const m = LABEL.exec(rest);
        if (!m) bad(text, 'expected label matchers such as {job="web",task=~"web-.*"}');
        matchers.push({ label: m[1]!, op: m[2] as Matcher['op'], value: JSON.parse(`"${m[3]!}"`) as string });
        rest = rest.slice(m[0].length);
        if (m[4] === '}') break;
        if (rest.trim().startsWith('}')) {
          rest = rest.trim().slice(1);
          break;
        }
      }
  }
  if (rest.trim() !== '') bad(text, `unexpected "${rest.trim()}"`);
  if (matchers.length === 0) bad(text, 'a selector needs a metric name or at least one label matcher');
  if (!matchers.some((m) => (m.op === '=' && m.value !== '') || m.op === '=~'))
    bad(text, 'a selector needs at least one matcher that does not match the empty string');
  return { matchers };
}

function compile(matchers: readonly Matcher[]): (s: SeriesInfo) => boolean {
  const tests = matchers.map((m) => {
    const get = (s: SeriesInfo): string => (m.label === '__name__' ? s.name : (s.labels[m.label] ?? ''));
    if (m.op === '=') return (s: SeriesInfo) => get(s) === m.value;
    if (m.op === '!=') return (s: SeriesInfo) => get(s) !== m.value;
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${m.value})$`);
    } catch (e) {
      return bad(m.value, `not a valid regular expression (${(e as Error).message})`);
    }
    return m.op === '=~' ? (s: SeriesInfo) => re.test(get(s)) : (s: SeriesInfo) => !re.test(get(s));
  });
  return (s) => tests.every((t) => t(s));
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** How far back a series' latest sample may be and still be federated (Prometheus's lookback). */
export const FEDERATE_LOOKBACK_MS = 5 * 60_000;

/**
 * The exposition text of the latest sample (within the lookback) of every series matching one of
 * the selectors and `extra` (the namespace rule), sorted by name.
 */
export function federate(
  db: TimeSeriesStore,
  selectors: readonly Selector[],
  extra: readonly Matcher[],
  now: number,
): string {
  if (selectors.length === 0) bad('', 'give at least one match[] selector, e.g. match[]={job="web"}');
  const tests = selectors.map((s) => compile([...s.matchers, ...extra]));
  const names = selectors.every((s) => s.matchers.some((m) => m.label === '__name__' && m.op === '='))
    ? selectors.map((s) => s.matchers.find((m) => m.label === '__name__' && m.op === '=')!.value)
    : undefined;
  const found = db.latest(
    (s) => tests.some((t) => t(s)),
    now - FEDERATE_LOOKBACK_MS,
    now + 1,
    names && [...new Set(names)],
  );
  found.sort((a, b) => (a.info.name < b.info.name ? -1 : a.info.name > b.info.name ? 1 : 0));
  const out: string[] = [];
  let last = '';
  for (const { info, t, v } of found) {
    if (info.name !== last) {
      out.push(`# TYPE ${info.name} untyped`);
      last = info.name;
    }
    const labels = Object.entries(info.labels).map(([k, val]) => `${k}="${escape(val)}"`);
    out.push(`${info.name}${labels.length === 0 ? '' : `{${labels.join(',')}}`} ${formatValue(v)} ${t}`);
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}
