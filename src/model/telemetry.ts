/**
 * Time series on the wire: what an agent ships (`POST /v1/metrics/ingest`) and what a query answers
 * (`GET /v1/metrics/query`). Shared by the server, the agent's collector and the client.
 */

export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** One point: [time in ms since the epoch (integer), value]. `null` stands for NaN (a staleness marker). */
export type MetricSample = [number, number | null];

export interface IngestSeries {
  /** Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`). */
  name: string;
  /**
   * Labels (`[a-zA-Z_][a-zA-Z0-9_]*`, not `__`-prefixed). `host` is set by the server to the
   * batch's (authenticated) host whatever is sent; `namespace` is the agent's word (it knows the
   * task), and decides who may read the series.
   */
  labels: Record<string, string>;
  kind: MetricKind;
  /** In time order; a point not after the series' last stored point is skipped (a duplicate). */
  samples: MetricSample[];
}

export interface IngestBatch {
  /** The sending host: must be the authenticated host (an admin token may name any). */
  host: string;
  /**
   * The spool's batch number for this host, increasing by at least 1 per batch. A batch with a seq
   * not above the highest applied for the host (and spool) is a re-send: answered, not re-applied.
   */
  seq: number;
  /**
   * Optional: the id of the agent's spool (e.g. made when its directory was created). When it
   * changes (a wiped spool starting again at seq 1), the server's highest seq for the host restarts.
   */
  spool?: string;
  series: IngestSeries[];
}

export interface IngestResult {
  /** Points stored by this request (0 for a re-sent batch). */
  accepted: number;
  /** The batch's seq, echoed: the agent's spool may drop every batch up to it. */
  seq: number;
  /** True when the batch had been applied before (nothing was stored again). */
  duplicate: boolean;
  /** Points skipped: out of order or repeated, too far in the future, or older than the roll-ups. */
  skipped: number;
}

/** Limits of one ingest batch (a batch over them is refused whole with a 400 or 413). */
export const INGEST_LIMITS = {
  bodyBytes: 8 * 1024 * 1024,
  series: 20_000,
  samplesPerSeries: 10_000,
  points: 500_000,
  labels: 32,
  labelNameLength: 128,
  labelValueLength: 1024,
  nameLength: 256,
  /** Points stamped more than this after the server's clock are skipped. */
  futureMs: 10 * 60_000,
} as const;

export type MetricsAgg = 'sum' | 'avg' | 'max' | 'min' | 'count' | `p${number}`;

/** `GET /v1/metrics/query` parameters, as the client sends them. */
export interface MetricsQuery {
  name: string;
  /** `k=v`, `k!=v`, `k=~re`, `k!~re` (repeatable). */
  where?: string[];
  /** Group by these labels (with `agg`, default sum). */
  by?: string[];
  /** Per-second increase, counter resets handled. */
  rate?: boolean;
  /** How far back (duration, default 1h) ... */
  since?: string;
  /** ... or an explicit range: ms since the epoch or ISO-8601. */
  start?: string;
  end?: string;
  /** Step (duration); default: the smallest of 10s, 1m, 5m, 1h, 1d giving at most 1,000 steps. */
  step?: string;
  agg?: MetricsAgg;
  /** Within a step, per series: avg (default), min, max, sum, count. */
  over?: 'avg' | 'min' | 'max' | 'sum' | 'count';
}

export interface MetricsSeries {
  labels: Record<string, string>;
  /** [t, v] at step starts; steps without data are left out. */
  points: [number, number][];
}

export interface MetricsQueryResult {
  name: string;
  start: number;
  end: number;
  step: number;
  rate: boolean;
  agg: string | null;
  by: string[];
  series: MetricsSeries[];
  /**
   * With several server replicas: those that did not give their share in time (id: why). The
   * series are then what the others hold.
   */
  missing?: string[];
  /**
   * Replicas whose points came from the copies another replica keeps of them (replication), as they
   * did not answer themselves: `ID: from its copies on OTHER`. The series are then complete.
   */
  fromCopies?: string[];
}
