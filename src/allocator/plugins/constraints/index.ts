/**
 * constraints: hard rules on host attributes (labels, plus `host.id` and `host.runtime`).
 * - equals: the attribute has exactly this value;
 * - in: it has one of these values;
 * - not: it does not have this value (a host without the attribute passes);
 * - regex: its value matches this JavaScript regular expression (unicode mode, not anchored).
 * A host without the attribute fails every operator but `not`.
 */
import type { Constraint } from '../../../model/index.ts';
import { listSome, plural } from '../../format.ts';
import type { FilterPlugin, Rejection } from '../../plugin.ts';

interface Compiled {
  attribute: string;
  /** The rule as written: "region=prn", "zone in [a, b]", "kernel != 4.19", "host.id ~ /^web-/". */
  text: string;
  /** Does a host with this value (undefined: without the attribute) pass? */
  pass(value: string | undefined): boolean;
  /** Why a value fails. */
  reason(value: string | undefined): string;
}

export function compileConstraint(c: Constraint): Compiled {
  const a = c.attribute;
  const without = `without ${a}`;
  if ('equals' in c) {
    return {
      attribute: a,
      text: `${a}=${c.equals}`,
      pass: (v) => v === c.equals,
      reason: (v) => (v === undefined ? without : `not ${a}=${c.equals}`),
    };
  }
  if ('in' in c) {
    const set = new Set(c.in);
    return {
      attribute: a,
      text: `${a} in [${c.in.join(', ')}]`,
      pass: (v) => v !== undefined && set.has(v),
      reason: (v) => (v === undefined ? without : `not ${a} in [${c.in.join(', ')}]`),
    };
  }
  if ('not' in c) {
    return {
      attribute: a,
      text: `${a} != ${c.not}`,
      pass: (v) => v !== c.not,
      reason: () => `with ${a}=${c.not}`,
    };
  }
  let re: RegExp | undefined;
  try {
    re = new RegExp(c.regex, 'u');
  } catch {
    re = undefined; // the job file validator refuses these; a hand-made ask fails every host
  }
  const pattern = re;
  return {
    attribute: a,
    text: `${a} ~ /${c.regex}/`,
    pass: (v) => v !== undefined && pattern !== undefined && pattern.test(v),
    reason: (v) =>
      pattern === undefined
        ? `invalid regex /${c.regex}/`
        : v === undefined
          ? without
          : `not ${a}~/${c.regex}/`,
  };
}

/** How many groups of would-fit hosts the suggestions name. */
const SUGGESTED_GROUPS = 2;

export const constraints: FilterPlugin = {
  name: 'constraints',
  stage: 'static',
  key: (ask) => JSON.stringify(ask.placement?.constraints ?? []),
  forClass({ ask, fleet }) {
    const list = ask.placement?.constraints ?? [];
    if (list.length === 0) return undefined;
    const compiled = list.map((c) => ({ c: compileConstraint(c), column: fleet.column(c.attribute) }));
    const firstFailure = (h: number): Rejection | undefined => {
      for (const { c, column } of compiled) {
        const v = column[h];
        if (!c.pass(v)) return { reason: c.reason(v) };
      }
      return undefined;
    };
    return {
      test(h) {
        for (const { c, column } of compiled) if (!c.pass(column[h])) return false;
        return true;
      },
      explain: (h) => firstFailure(h) ?? { reason: 'passes' },
      /** Hosts grouped by the constraints they break: "2 hosts would fit without the constraint
       * region=prn: web-10, web-2" (the two largest groups). */
      suggest(onlyThis) {
        const groups = new Map<string, { broken: string[]; hosts: string[] }>();
        for (const h of onlyThis) {
          const broken = compiled.filter(({ c, column }) => !c.pass(column[h])).map(({ c }) => c.text);
          const key = broken.join('\u0000');
          const g = groups.get(key) ?? { broken, hosts: [] };
          g.hosts.push(fleet.id(h));
          groups.set(key, g);
        }
        return [...groups.values()]
          .sort((x, y) => y.hosts.length - x.hosts.length || (x.broken.join() < y.broken.join() ? -1 : 1))
          .slice(0, SUGGESTED_GROUPS)
          .map(({ broken, hosts }) => {
            const rule = broken.length === 1 ? 'the constraint' : 'the constraints';
            return `${plural(hosts.length, 'host')} would fit without ${rule} ${broken.join(' and ')}: ${listSome(hosts)}`;
          });
      },
    };
  },
};
