/** A human-readable event, under /events/SEQ, as `GET /v1/events` returns it. */
export interface DabbaEvent {
  seq: number;
  at: number;
  kind: string;
  job?: string;
  task?: string;
  host?: string;
  message: string;
}
