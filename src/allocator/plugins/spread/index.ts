/**
 * spread: fault-domain intent over host attributes (`placement.spread`).
 * - Filter, for rules with `min`: while the job's tasks cover fewer than `min` distinct values of
 *   the attribute, a task may only go to a host with a value not yet covered (hosts without the
 *   attribute do not qualify then). Once `min` values are covered the rule no longer filters.
 * - Scorer, for every rule: prefer hosts whose value has the fewest tasks of the job (even across
 *   values; hosts without the attribute come last). Rules rank in the order listed: most important
 *   first.
 */
import type { SpreadSpec } from '../../../model/index.ts';
import { listSome, plural } from '../../format.ts';
import type { ClassScorer, FilterPlugin, Rejection, ScorePlugin } from '../../plugin.ts';

function rules(spread: readonly SpreadSpec[] | undefined): SpreadSpec[] {
  return (spread ?? []).filter((r) => r.min !== undefined && r.min > 0);
}

export const spreadMin: FilterPlugin = {
  name: 'spread',
  stage: 'dynamic',
  forClass({ ask, fleet, job }) {
    const withMin = rules(ask.placement?.spread).map((r) => ({
      attribute: r.attribute,
      min: r.min ?? 0,
      codes: fleet.codes(r.attribute).codes,
      job: job.attribute(r.attribute),
    }));
    if (withMin.length === 0) return undefined;
    const failing = (h: number): Rejection | undefined => {
      for (const r of withMin) {
        if (r.job.distinct >= r.min) continue;
        const c = r.codes[h]!;
        if (c < 0) return { reason: `without ${r.attribute} (spread min ${r.min})` };
        if (r.job.counts[c]! > 0) return { reason: `on a used ${r.attribute} (spread min ${r.min})` };
      }
      return undefined;
    };
    return {
      test(h) {
        for (const r of withMin) {
          if (r.job.distinct >= r.min) continue;
          const c = r.codes[h]!;
          if (c < 0 || r.job.counts[c]! > 0) return false;
        }
        return true;
      },
      explain: (h) => failing(h) ?? { reason: 'passes' },
      suggest(onlyThis) {
        const out: string[] = [];
        for (const r of withMin) {
          if (r.job.distinct >= r.min) continue;
          const used = [...job.valueCounts(r.attribute).keys()].sort();
          const ids = onlyThis.map((h) => fleet.id(h));
          out.push(
            `spread over ${r.attribute} needs ${r.min} distinct values and ${job.name} covers ${used.length}` +
              (used.length > 0 ? ` (${listSome(used)})` : '') +
              `; the ${plural(onlyThis.length, 'host')} that would fit (${listSome(ids)}) add none: ` +
              `add capacity with another ${r.attribute} or lower min`,
          );
        }
        return out;
      },
    };
  },
};

export const spreadScore: ScorePlugin = {
  name: 'spread',
  forClass({ ask, fleet, job }) {
    return (ask.placement?.spread ?? []).map((r): ClassScorer => {
      const { codes } = fleet.codes(r.attribute);
      const { counts } = job.attribute(r.attribute);
      return {
        score(h) {
          const c = codes[h]!;
          return c < 0 ? -Infinity : -counts[c]!;
        },
      };
    });
  },
};
