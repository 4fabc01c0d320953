/**
 * A store's identity: a random id written once in its directory (`store-id`), so that the copies
 * other replicas keep of its points (copy-stores.ts) name the store, not the replica process that
 * served it. A replica restarted under another id keeps its store id (its copies stay "its own
 * points, answered"); a store lost with its disk gets a new id, and its copies then stand in for it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../tsdb/durable-files.ts';

/** What a store id (and so a copy store's directory name) looks like. */
export const STORE_ID_PATTERN = /^[a-z0-9]{16,64}$/;

/** The store id kept in `dir` (created, durably, when there is none or it does not read back). */
export function storeIdOf(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'store-id');
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (STORE_ID_PATTERN.test(id)) return id;
  } catch {
    // none yet
  }
  const id = randomBytes(10).toString('hex');
  writeFileAtomic(path, [Buffer.from(`${id}\n`)]);
  return id;
}
