export { TelemetryService, type TelemetryOptions } from './service.ts';
export { parseIngestBatch } from './ingest-batch.ts';
export { parseMetricsQuery, parseWhere, parseSpan, type ParsedQuery } from './query-params.ts';
