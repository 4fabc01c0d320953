/**
 * Dashboards kept in the control plane (`/v1/boards/NAME`, namespaced): a board is a titled list of
 * panels, each a time-series query (`GET /v1/metrics/query` without its range: the viewer picks
 * that). Shared by the server, the client and the web UI.
 */
import type { MetricsQuery } from './telemetry.ts';

/** A panel's query: a metrics query without the time range and step, which the page chooses. */
export type BoardQuery = Omit<MetricsQuery, 'since' | 'start' | 'end' | 'step'>;

export interface BoardPanel {
  title: string;
  query: BoardQuery;
  /**
   * Set on a panel over a histogram's `_bucket` series (queried with `rate` and `by` including
   * `le`): the page draws this quantile (0..1) of the observations per step, computed from the
   * buckets as Prometheus's histogram_quantile does.
   */
  quantile?: number;
}

/** What a client sends (`PUT /v1/boards/NAME`). */
export interface PutBoardRequest {
  title: string;
  panels: BoardPanel[];
  /** The version the edit started from: the write is refused (409) if the board changed since. */
  version?: number;
}

/** A stored board. */
export interface Board {
  name: string;
  namespace: string;
  title: string;
  panels: BoardPanel[];
  /** 1 when created, +1 per write. */
  version: number;
  updatedAt: number;
  author: string;
}

/** Board names: lower-case letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
export const BOARD_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export const BOARD_LIMITS = { panels: 100, title: 200, whereClauses: 16, byLabels: 8 } as const;
