import type { DatabaseSync, StatementSync } from 'node:sqlite';

const KV_COLUMNS = 'key, value, create_rev, mod_rev, version, lease';
const HISTORY_COLUMNS =
  'id, rev, deleted, key, value, create_rev, version, lease, prev_value, prev_create_rev, prev_mod_rev, prev_version, prev_lease';

/** Every statement the store runs, prepared once. */
export class Statements {
  readonly begin: StatementSync;
  readonly commit: StatementSync;
  readonly rollback: StatementSync;
  readonly savepoint: StatementSync;
  readonly release: StatementSync;
  readonly rollbackTo: StatementSync;

  readonly getMeta: StatementSync;
  readonly setMeta: StatementSync;

  readonly getKv: StatementSync;
  /** (from, limit): keys >= from. Limit -1 means none. */
  readonly rangeFrom: StatementSync;
  /** (from, to, limit): keys in [from, to). */
  readonly rangeBetween: StatementSync;
  readonly insertKv: StatementSync;
  readonly updateKv: StatementSync;
  readonly deleteKv: StatementSync;
  readonly deleteFrom: StatementSync;
  readonly deleteBetween: StatementSync;
  readonly kvByLease: StatementSync;

  readonly insertHistory: StatementSync;
  /** (fromRev, toRev, keyFrom, limit) */
  readonly historyFrom: StatementSync;
  /** (fromRev, toRev, keyFrom, keyTo, limit) */
  readonly historyBetween: StatementSync;
  /** (rev, afterId, keyFrom): the rest of one revision. */
  readonly historyRestFrom: StatementSync;
  /** (rev, afterId, keyFrom, keyTo) */
  readonly historyRestBetween: StatementSync;
  readonly deleteHistoryBefore: StatementSync;

  readonly getLease: StatementSync;
  readonly insertLease: StatementSync;
  readonly renewLease: StatementSync;
  readonly renewAllLeases: StatementSync;
  readonly deleteLease: StatementSync;
  readonly expiredLeases: StatementSync;
  readonly nextLeaseExpiry: StatementSync;

  constructor(db: DatabaseSync) {
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
    this.savepoint = db.prepare('SAVEPOINT w');
    this.release = db.prepare('RELEASE w');
    this.rollbackTo = db.prepare('ROLLBACK TO w');

    this.getMeta = db.prepare('SELECT value FROM meta WHERE name = ?');
    this.setMeta = db.prepare('UPDATE meta SET value = ? WHERE name = ?');

    this.getKv = db.prepare(`SELECT ${KV_COLUMNS} FROM kv WHERE key = ?`);
    this.rangeFrom = db.prepare(`SELECT ${KV_COLUMNS} FROM kv WHERE key >= ? ORDER BY key LIMIT ?`);
    this.rangeBetween = db.prepare(
      `SELECT ${KV_COLUMNS} FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?`,
    );
    this.insertKv = db.prepare(`INSERT INTO kv (${KV_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`);
    this.updateKv = db.prepare('UPDATE kv SET value = ?, mod_rev = ?, version = ?, lease = ? WHERE key = ?');
    this.deleteKv = db.prepare('DELETE FROM kv WHERE key = ?');
    this.deleteFrom = db.prepare('DELETE FROM kv WHERE key >= ?');
    this.deleteBetween = db.prepare('DELETE FROM kv WHERE key >= ? AND key < ?');
    this.kvByLease = db.prepare(`SELECT ${KV_COLUMNS} FROM kv WHERE lease = ? ORDER BY key`);

    this.insertHistory = db.prepare(
      `INSERT INTO history (rev, deleted, key, value, create_rev, version, lease,
         prev_value, prev_create_rev, prev_mod_rev, prev_version, prev_lease)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.historyFrom = db.prepare(
      `SELECT ${HISTORY_COLUMNS} FROM history WHERE rev >= ? AND rev <= ? AND key >= ?
       ORDER BY rev, id LIMIT ?`,
    );
    this.historyBetween = db.prepare(
      `SELECT ${HISTORY_COLUMNS} FROM history WHERE rev >= ? AND rev <= ? AND key >= ? AND key < ?
       ORDER BY rev, id LIMIT ?`,
    );
    this.historyRestFrom = db.prepare(
      `SELECT ${HISTORY_COLUMNS} FROM history WHERE rev = ? AND id > ? AND key >= ? ORDER BY id`,
    );
    this.historyRestBetween = db.prepare(
      `SELECT ${HISTORY_COLUMNS} FROM history WHERE rev = ? AND id > ? AND key >= ? AND key < ? ORDER BY id`,
    );
    this.deleteHistoryBefore = db.prepare('DELETE FROM history WHERE rev < ?');

    this.getLease = db.prepare('SELECT id, ttl_ms, expires_at FROM leases WHERE id = ?');
    this.insertLease = db.prepare('INSERT INTO leases (ttl_ms, expires_at) VALUES (?, ?)');
    this.renewLease = db.prepare('UPDATE leases SET expires_at = ? WHERE id = ?');
    this.renewAllLeases = db.prepare('UPDATE leases SET expires_at = ? + ttl_ms');
    this.deleteLease = db.prepare('DELETE FROM leases WHERE id = ?');
    this.expiredLeases = db.prepare('SELECT id FROM leases WHERE expires_at <= ? ORDER BY expires_at, id');
    this.nextLeaseExpiry = db.prepare('SELECT MIN(expires_at) AS t FROM leases');
  }
}

export interface LeaseRow {
  id: number;
  ttl_ms: number;
  expires_at: number;
}
