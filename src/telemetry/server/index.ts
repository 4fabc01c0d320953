export { TelemetryService, type TelemetryOptions } from './service.ts';
export { parseIngestBatch } from './ingest-batch.ts';
export { parseMetricsQuery, parseWhere, parseSpan, type ParsedQuery } from './query-params.ts';
export { ControlPlaneMetrics } from './control-plane-metrics.ts';
export {
  Registry,
  Counter,
  Histogram,
  Gauge,
  formatValue,
  wantsOpenMetrics,
  PROMETHEUS_TEXT,
  OPENMETRICS_TEXT,
} from './registry.ts';
export { federate, parseSelector, FEDERATE_LOOKBACK_MS, type Selector } from './federate.ts';
export { CopyStores, type CopyOrigin } from './copy-stores.ts';
export { storeIdOf, STORE_ID_PATTERN } from './store-id.ts';
