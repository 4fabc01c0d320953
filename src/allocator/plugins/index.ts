/** The default plugins, in the order they run. */
import type { FilterPlugin, ScorePlugin } from '../plugin.ts';
import { avoidHosts } from './avoid-hosts/index.ts';
import { constraints } from './constraints/index.ts';
import { distinctHosts } from './distinct-hosts/index.ts';
import { hostState } from './host-state/index.ts';
import { jobAntiAffinity } from './job-anti-affinity/index.ts';
import { ports } from './ports/index.ts';
import { resourcesFit } from './resources-fit/index.ts';
import { spreadMin, spreadScore } from './spread/index.ts';
import { utilization } from './utilization/index.ts';
import { volumeAffinity } from './volume-affinity/index.ts';

/** Cheap and static first: explanations count each host under the first filter that rejects it. */
export const DEFAULT_FILTERS: readonly FilterPlugin[] = [
  hostState,
  avoidHosts,
  volumeAffinity,
  constraints,
  ports,
  resourcesFit,
  distinctHosts,
  spreadMin,
];

/** Lexicographic: fault-domain spread first, then the job's tasks per host, then utilization. */
export const DEFAULT_SCORERS: readonly ScorePlugin[] = [spreadScore, jobAntiAffinity, utilization];

export {
  avoidHosts,
  constraints,
  distinctHosts,
  hostState,
  jobAntiAffinity,
  ports,
  resourcesFit,
  spreadMin,
  spreadScore,
  utilization,
  volumeAffinity,
};
