/** What `dabba plan` / `POST /v1/jobs/NAME/plan` answers: the change a job file would make. */
import type { Explanation } from './explanation.ts';

export interface PlanFailure {
  /** How many tasks fail for this reason. */
  count: number;
  /** One line: what is missing and the nearest fit. */
  summary: string;
  /** The allocator's full explanation, as indented lines. */
  detail: string[];
  /** The structured explanation (filters, rejected host counts, nearest fits, suggestions). */
  explanation: Explanation;
}

export interface JobPlanView {
  job: string;
  /** Current version, null for a new job. */
  currentVersion: number | null;
  /** The version a deploy would store (the current one when nothing changes). */
  nextVersion: number;
  /** False when the file equals the current version (a deploy would change nothing). */
  changed: boolean;
  replicas: number;
  /** Tasks that keep running as they are. */
  keep: { task: string; host: string | null }[];
  /** New tasks per host (host null: cannot be placed). */
  add: { host: string | null; count: number }[];
  /** Tasks replaced by new ones (their spec changes), stopped once replacements are healthy. */
  replace: { task: string; host: string | null }[];
  /** Tasks stopped (scale down). */
  stop: { task: string; host: string | null }[];
  /** Tasks of the job per host, now and after. */
  perHost: { host: string; before: number; after: number }[];
  failures: PlanFailure[];
  /** Set when no host's runtime can run the task at all (no image for a container-only fleet, an
   * image the server does not have): a deploy is refused with DABBA_E_UNRUNNABLE. */
  unrunnable?: Unrunnable;
}

/** Why no host can run a job's task (see `JobPlanView.unrunnable`). */
export interface Unrunnable {
  /** NoImage | ImageNotFound */
  code: 'NoImage' | 'ImageNotFound';
  /** What is wrong and how to fix it. */
  message: string;
  /** Runtimes of the live hosts. */
  runtimes: string[];
  image?: string;
}
