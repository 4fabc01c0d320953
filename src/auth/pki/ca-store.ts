/**
 * Where the cluster CA lives: in the store (so that every replica on one etcd uses the same CA; the
 * first one to start creates it with a create-only transaction) and, for the operator, in the
 * server's data dir as `ca.crt` (0644) and `ca.key` (0600).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DabbaError } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import { keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { createClusterCa, openClusterCa, type ClusterCa } from './ca.ts';

interface StoredCa {
  cert: string;
  key: string;
  createdAt: number;
}

export interface LoadedCa {
  ca: ClusterCa;
  /** True if this call created the CA. */
  created: boolean;
  /** `DATA_DIR/ca.crt`, when a data dir was given. */
  certFile?: string;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DabbaError('DABBA_E_BAD_REQUEST', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Writes a file whole or not at all (temp file and rename), with the given mode. */
export async function writeFileAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function readDataDirCa(dataDir: string): Promise<{ certPem: string; keyPem: string } | undefined> {
  const certPem = await readIfExists(join(dataDir, 'ca.crt'));
  const keyPem = await readIfExists(join(dataDir, 'ca.key'));
  if (certPem === undefined && keyPem === undefined) return undefined;
  if (certPem === undefined || keyPem === undefined)
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `${dataDir} has ${certPem === undefined ? 'ca.key but no ca.crt' : 'ca.crt but no ca.key'}: give both (your own CA) or neither (a new one)`,
    );
  return { certPem, keyPem };
}

function parseStored(value: string): StoredCa {
  const v = JSON.parse(value) as Partial<StoredCa>;
  if (typeof v.cert !== 'string' || typeof v.key !== 'string')
    throw new DabbaError('DABBA_E_STORE', `the cluster CA record at ${keys.clusterCa} is malformed`);
  return { cert: v.cert, key: v.key, createdAt: v.createdAt ?? 0 };
}

/**
 * The cluster CA: the store's if it holds one; otherwise the data dir's `ca.crt`/`ca.key` if the
 * operator put their own there, else a new one; stored create-only (a replica that loses the race
 * takes the winner's). The data dir then gets the store's CA, unless it holds a different one,
 * which is refused (a data dir of another cluster).
 */
export async function loadOrCreateClusterCa(
  store: Store,
  o: { dataDir?: string; logger?: Logger; now?: Date } = {},
): Promise<LoadedCa> {
  const fromDir = o.dataDir === undefined ? undefined : await readDataDirCa(o.dataDir);
  let created = false;
  let raw = (await store.get(keys.clusterCa))?.value;
  if (raw === undefined) {
    const material = fromDir ?? (await createClusterCa(o.now));
    openClusterCa(material.certPem, material.keyPem, o.dataDir ? `${o.dataDir}/ca.crt` : undefined);
    const value = JSON.stringify({ cert: material.certPem, key: material.keyPem, createdAt: Date.now() });
    const r = await store.txn({
      compare: [{ key: keys.clusterCa, target: 'create', op: '=', createRevision: 0 }],
      success: [{ type: 'put', key: keys.clusterCa, value }],
      failure: [{ type: 'get', key: keys.clusterCa }],
    });
    raw = r.succeeded ? value : r.gets[0]?.value;
    if (raw === undefined)
      throw new DabbaError('DABBA_E_STORE', 'the cluster CA vanished while being created');
    if (r.succeeded) {
      created = fromDir === undefined;
      o.logger?.info({ imported: fromDir !== undefined }, 'cluster CA stored');
    }
  }
  const stored = parseStored(raw);
  const ca = openClusterCa(stored.cert, stored.key);
  if (o.dataDir === undefined) return { ca, created };
  if (fromDir !== undefined && fromDir.certPem.trim() !== stored.cert.trim())
    throw new DabbaError(
      'DABBA_E_CONFLICT',
      `${join(o.dataDir, 'ca.crt')} is not the cluster CA held by the store (a data dir of another cluster?): move ca.crt and ca.key away to use the store's CA`,
    );
  await mkdir(o.dataDir, { recursive: true });
  const certFile = join(o.dataDir, 'ca.crt');
  if (fromDir === undefined) {
    await writeFileAtomic(join(o.dataDir, 'ca.key'), stored.key, 0o600);
    await writeFileAtomic(certFile, stored.cert, 0o644);
  }
  return { ca, created, certFile };
}
