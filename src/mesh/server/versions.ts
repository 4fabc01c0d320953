/**
 * The dependency file's versions in the store: each apply stores a new numbered version with its
 * author and message (an unchanged file stores nothing); rollback stores an old version's config
 * again as a new version. Compare-and-swap on the current-version key: concurrent writers retry.
 */
import { isDeepStrictEqual } from 'node:util';
import { ConflictError, DabbaError, NotFoundError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import { keys, type MeshApplyResult, type MeshConfig, type MeshVersion } from '../../model/index.ts';
import { getJson, type Store } from '../../store/index.ts';

const MAX_ATTEMPTS = 10;

/** The current version, or undefined before the first apply. */
export async function currentMesh(store: Store): Promise<MeshVersion | undefined> {
  const cur = await getJson<{ version: number }>(store, keys.meshCurrent);
  if (cur === undefined) return undefined;
  return (await getJson<MeshVersion>(store, keys.meshVersion(cur.value.version)))?.value;
}

export async function meshHistory(store: Store): Promise<MeshVersion[]> {
  const { kvs } = await store.range(keys.meshVersionsPrefix);
  return kvs.map((kv) => JSON.parse(kv.value) as MeshVersion);
}

async function store1(
  store: Store,
  config: MeshConfig,
  meta: { author: string; message: string; restores?: number },
  clock: Clock,
): Promise<MeshApplyResult> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const cur = await getJson<{ version: number }>(store, keys.meshCurrent);
    const version = (cur?.value.version ?? 0) + 1;
    if (cur !== undefined) {
      const old = await getJson<MeshVersion>(store, keys.meshVersion(cur.value.version));
      if (old !== undefined && isDeepStrictEqual(old.value.config, config)) {
        return { version: cur.value.version, changed: false };
      }
    }
    const record: MeshVersion = {
      version,
      config,
      author: meta.author,
      message: meta.message,
      createdAt: clock.now(),
      ...(meta.restores === undefined ? {} : { restores: meta.restores }),
    };
    const r = await store.txn({
      compare: [{ key: keys.meshCurrent, target: 'mod', op: '=', modRevision: cur?.kv.modRevision ?? 0 }],
      success: [
        { type: 'put', key: keys.meshCurrent, value: JSON.stringify({ version }) },
        { type: 'put', key: keys.meshVersion(version), value: JSON.stringify(record) },
      ],
    });
    if (r.succeeded) return { version, changed: true };
  }
  throw new ConflictError('the dependency file is being changed by someone else; try again');
}

/** Stores `config` as a new version (unless it equals the current one). */
export function applyMesh(
  store: Store,
  config: MeshConfig,
  meta: { author: string; message: string },
  clock: Clock,
): Promise<MeshApplyResult> {
  return store1(store, config, meta, clock);
}

/** Stores version `to` (default: the one before the current) again, as a new version. */
export async function rollbackMesh(
  store: Store,
  to: number | undefined,
  author: string,
  clock: Clock,
): Promise<MeshApplyResult & { restored: number }> {
  const cur = await currentMesh(store);
  if (cur === undefined) throw new NotFoundError('dependency file', 'current');
  const target = to ?? cur.version - 1;
  if (target < 1) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      'there is no version before the current one to roll back to',
      {
        details: { current: cur.version },
      },
    );
  }
  const old = await getJson<MeshVersion>(store, keys.meshVersion(target));
  if (old === undefined) throw new NotFoundError('dependency file version', String(target));
  const r = await store1(
    store,
    old.value.config,
    { author, message: `rollback to version ${String(target)}`, restores: target },
    clock,
  );
  return { ...r, restored: target };
}
