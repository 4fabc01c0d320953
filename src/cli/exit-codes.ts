/** Exit codes of the `dabba` CLI (documented in README.md). Scripts rely on them: never renumber. */
export const EXIT = {
  /** Success: the command did what was asked (a deploy is healthy). */
  OK: 0,
  /** The operation ran and failed: a rollout failed or was rolled back, a task did not stop. */
  FAILED: 1,
  /** Usage or validation error: bad flags, an invalid job file, input the server refused (4xx). */
  USAGE: 2,
  /** The server could not be reached. */
  UNREACHABLE: 3,
  /** What was asked for does not exist (job, task, host). */
  NOT_FOUND: 4,
  /** The server answered with an error of its own (5xx) or a conflict. */
  SERVER: 5,
  /** Interrupted (Ctrl-C). */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
