export { LogTables, type InsertContext, type LogTablesOptions, type QueryScope } from './log-tables.ts';
export {
  RETENTION_DEFAULTS,
  retainOnce,
  runRetention,
  usedBytes,
  type RetentionOptions,
} from './retention.ts';
export { EVENTS_TABLE, TASKLOGS_TABLE, eventRow, taskLogRow } from './rows-of.ts';
export { parseQuery, parseWhere, buildSql, type QuerySpec } from './query.ts';
export { columnNameOf } from './columns.ts';
