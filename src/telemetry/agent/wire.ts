/**
 * What the agent ships: `POST /v1/metrics/ingest` with one batch per collection (or a few), numbered
 * by the agent's spool (`seq`, increasing per host); the server acknowledges `{ accepted, seq }` and
 * is idempotent on (host, seq), so a batch sent twice is stored once.
 */
export type SeriesKind = 'counter' | 'gauge' | 'histogram';

export interface WireSeries {
  name: string;
  labels: Record<string, string>;
  kind: SeriesKind;
  /** [time in epoch ms, value] pairs, oldest first. */
  samples: [number, number][];
}

export interface WireBatch {
  host: string;
  seq: number;
  /** The spool's id (a wiped spool gets a new one). */
  spool?: string;
  series: WireSeries[];
}

export interface IngestAck {
  accepted: number;
  seq: number;
}

/** One value read at one moment, before it is put in a batch. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  kind: SeriesKind;
  value: number;
}
