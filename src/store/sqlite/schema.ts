import type { DatabaseSync } from 'node:sqlite';
import { StoreError } from '../../errors/index.ts';

/** Bumped when the layout changes; a file from a newer Dabba is refused rather than misread. */
export const SCHEMA_VERSION = 1;

const DDL = `
CREATE TABLE IF NOT EXISTS meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  create_rev INTEGER NOT NULL,
  mod_rev    INTEGER NOT NULL,
  version    INTEGER NOT NULL,
  lease      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_lease ON kv (lease, key) WHERE lease != 0;
CREATE TABLE IF NOT EXISTS history (
  id              INTEGER PRIMARY KEY,
  rev             INTEGER NOT NULL,
  deleted         INTEGER NOT NULL,
  key             TEXT NOT NULL,
  value           TEXT NOT NULL,
  create_rev      INTEGER NOT NULL,
  version         INTEGER NOT NULL,
  lease           INTEGER NOT NULL,
  prev_value      TEXT,
  prev_create_rev INTEGER,
  prev_mod_rev    INTEGER,
  prev_version    INTEGER,
  prev_lease      INTEGER
);
CREATE INDEX IF NOT EXISTS history_rev ON history (rev);
CREATE TABLE IF NOT EXISTS leases (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  ttl_ms     INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_expiry ON leases (expires_at);
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compact_rev', 1);
`;

/**
 * Creates the tables (inside the caller's transaction) or checks that an existing file has a layout
 * this code understands.
 *
 * - kv: the current value of every key.
 * - history: one row per event, in revision order (id grows with revision); watch-from-revision reads
 *   it. Rows below meta.compact_rev have been compacted away.
 * - leases: TTL and absolute expiry (ms since the epoch) of every live lease.
 * - meta: revision (the store's current revision) and compact_rev (oldest revision still in history).
 */
export function initSchema(db: DatabaseSync, path: string): void {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number } | undefined;
  const version = row?.user_version ?? 0;
  if (version > SCHEMA_VERSION) {
    throw new StoreError(
      `store file ${path} has schema version ${version}, newer than this Dabba understands (${SCHEMA_VERSION}); upgrade Dabba`,
      { details: { path, version } },
    );
  }
  db.exec(DDL);
  if (version < SCHEMA_VERSION) db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
}
