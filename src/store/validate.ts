/**
 * Argument checks shared by Store implementations, so every implementation refuses the same requests
 * with the same errors (DABBA_E_BAD_REQUEST).
 */
import { DabbaError } from '../errors/index.ts';
import type { TxnOp, TxnRequest } from './store.ts';

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
}

export function badRequest(message: string, details: Record<string, unknown> = {}): DabbaError {
  return new DabbaError('DABBA_E_BAD_REQUEST', message, { details });
}

export function checkKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string' || key === '') throw badRequest(`${what} must be a non-empty string`);
  if (!key.isWellFormed()) throw badRequest(`${what} ${JSON.stringify(key)} is not well-formed Unicode`);
}

/** A prefix may be empty (every key). */
export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string') throw badRequest('prefix must be a string');
  if (!prefix.isWellFormed()) throw badRequest(`prefix ${JSON.stringify(prefix)} is not well-formed Unicode`);
}

export function checkValue(value: unknown, key: string): asserts value is string {
  if (typeof value !== 'string') throw badRequest(`value of ${key} must be a string (store JSON text)`);
}

export function checkLeaseId(id: unknown): asserts id is number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw badRequest(`lease id must be a non-negative integer, got ${show(id)}`);
  }
}

export function checkTtl(ttlSeconds: unknown): asserts ttlSeconds is number {
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw badRequest(`lease TTL must be a positive number of seconds, got ${show(ttlSeconds)}`);
  }
}

export function checkRevision(revision: unknown, what: string): asserts revision is number {
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 1) {
    throw badRequest(`${what} must be a positive integer revision, got ${show(revision)}`);
  }
}

export function checkLimit(limit: unknown): void {
  if (limit === undefined) return;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) {
    throw badRequest(`limit must be a non-negative integer (0 = no limit), got ${show(limit)}`);
  }
}

/**
 * Checks a txn's shape. As etcd, a branch may not put the same key twice, nor put a key that it
 * also deletes: one revision holds at most one change per key.
 */
export function checkTxn(req: TxnRequest, maxOps: number): void {
  if (typeof req !== 'object' || req === null || !Array.isArray(req.compare) || !Array.isArray(req.success)) {
    throw badRequest('txn needs compare and success arrays');
  }
  for (const [what, list] of [
    ['compares', req.compare],
    ['success operations', req.success],
    ['failure operations', req.failure ?? []],
  ] as const) {
    if (list.length > maxOps) {
      throw badRequest(
        `txn has ${list.length} ${what}; this store takes at most ${maxOps} per txn (split it into several)`,
        { count: list.length, maxTxnOps: maxOps },
      );
    }
  }
  for (const c of req.compare) {
    checkKey(c.key, 'compare key');
    if (c.target === 'mod' || c.target === 'create') {
      if (!['=', '!=', '<', '>'].includes(c.op)) throw badRequest(`unknown compare operator ${String(c.op)}`);
      const n = c.target === 'mod' ? c.modRevision : c.createRevision;
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
        throw badRequest(`compare on ${c.key}: revision must be an integer`);
      }
    } else if (c.target === 'value') {
      if (c.op !== '=' && c.op !== '!=') throw badRequest(`unknown compare operator ${String(c.op)}`);
      checkValue(c.value, c.key);
    } else {
      throw badRequest(`unknown compare target ${String((c as { target: unknown }).target)}`);
    }
  }
  checkBranch(req.success);
  if (req.failure !== undefined) {
    if (!Array.isArray(req.failure)) throw badRequest('txn failure must be an array');
    checkBranch(req.failure);
  }
}

function checkBranch(ops: TxnOp[]): void {
  const puts = new Set<string>();
  for (const op of ops) {
    switch (op.type) {
      case 'put':
        checkKey(op.key);
        checkValue(op.value, op.key);
        if (op.lease !== undefined) checkLeaseId(op.lease);
        if (puts.has(op.key)) throw badRequest(`txn puts key ${op.key} twice`, { key: op.key });
        puts.add(op.key);
        break;
      case 'delete':
      case 'get':
        checkKey(op.key);
        break;
      case 'deletePrefix':
        checkPrefix(op.prefix);
        break;
      default:
        throw badRequest(`unknown txn op ${String((op as { type: unknown }).type)}`);
    }
  }
  for (const op of ops) {
    if (op.type === 'delete' && puts.has(op.key)) {
      throw badRequest(`txn both puts and deletes key ${op.key}`, { key: op.key });
    }
    if (op.type === 'deletePrefix') {
      for (const k of puts) {
        if (k.startsWith(op.prefix)) throw badRequest(`txn both puts and deletes key ${k}`, { key: k });
      }
    }
  }
}
