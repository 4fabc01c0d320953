export { TimeSeriesStore, type TsdbOptions, type MaintenanceResult } from './store.ts';
export type { Query, Matcher, MatchOp, Over, Aggregation, ResultSeries } from './query.ts';
export { percentileOf, MAX_STEPS } from './query.ts';
export type { Labels } from './labels.ts';
export { seriesKey, seriesId } from './labels.ts';
export type { SeriesInfo } from './series-index.ts';
export type { Retention } from './compactor.ts';
export { GorillaEncoder, decode, NOMINAL_DELTA_MS } from './gorilla.ts';
export { DAY_MS, HOUR_MS, FIVE_MIN_MS, WINDOW_MS, MINUTE_MS } from './layout.ts';
