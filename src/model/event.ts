/** A human-readable event, under /events/TIME-ID, as `GET /v1/events` returns it. */
export interface DabbaEvent {
  id: string;
  at: number;
  kind: string;
  job?: string;
  task?: string;
  host?: string;
  message: string;
}
