/**
 * What the agent ships: `POST /v1/metrics/ingest` with one batch per collection, numbered by the
 * agent's spool (`seq`, increasing per host); the server acknowledges `{ accepted, seq }` and is
 * idempotent on (host, spool, seq), so a batch sent twice is stored once. The shapes are the
 * model's (src/model/telemetry.ts); these names are the agent's view of them.
 */
import type { IngestBatch, IngestResult, IngestSeries, MetricKind } from '../../model/index.ts';

export type SeriesKind = MetricKind;
export type WireSeries = IngestSeries;
export type WireBatch = IngestBatch;
export type IngestAck = Pick<IngestResult, 'accepted' | 'seq'>;

/** One value read at one moment, before it is put in a batch. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  kind: SeriesKind;
  value: number;
}
