/** A human-readable event, under /events/TIME-ID, as `GET /v1/events` returns it. */
export interface DabbaEvent {
  id: string;
  at: number;
  kind: string;
  job?: string;
  task?: string;
  host?: string;
  message: string;
  /** Why, machine-readable, for a task's exit: Exited, Killed, OOMKilled, LivenessFailed, ... */
  reason?: string;
  /** A task's exit code, for its exit. */
  exitCode?: number;
}
