/**
 * The versioned config store (docs/config.md): metadata in the Store (the latest version of each
 * path, and every version), content content-addressed — on disk in this replica's blob store, and,
 * up to INLINE_MAX_BYTES, also in the Store so that every replica can serve it. A change is checked
 * (format, schemas) before anything is written, and lands as one transaction or not at all.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError, DabbaError, NotFoundError, ValidationError } from '../../errors/index.ts';
import { sha256Digest, type BlobStore, type Digest } from '../../image/index.ts';
import type { Clock } from '../../lib/index.ts';
import {
  CONFIG_MAX_BYTES,
  CONFIG_SCHEMA_NAME,
  configFormatOf,
  configPathProblem,
  keys,
  schemaPathsFor,
  type ConfigHostState,
  type ConfigPropagation,
  type ConfigStatusView,
  type ConfigVersion,
  type PutConfigResult,
} from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { checkConfigContent, type SchemaRef } from './content-check.ts';

/** Contents up to this size are kept in the Store too (base64), so every replica serves them. */
export const INLINE_MAX_BYTES = 256 * 1024;

/** Tries of a write that loses its transaction's guard to another replica's write. */
const ATTEMPTS = 32;

export interface PutConfigInput {
  namespace: string;
  path: string;
  content: Buffer;
  author: string;
  message: string;
  revertOf?: number;
}

export function checkConfigPath(path: string): void {
  const problem = configPathProblem(path);
  if (problem !== undefined)
    throw new ValidationError(`"${path}" is not a config path`, [{ path: 'path', message: problem }]);
}

function parseVersion(value: string): ConfigVersion {
  return JSON.parse(value) as ConfigVersion;
}

/** How many hosts report the latest version, and how long after its store time they had it. */
function propagationOf(latest: ConfigVersion, hosts: ConfigHostState[]): ConfigPropagation {
  const took = hosts
    .filter((h) => h.version === latest.version)
    .map((h) => Math.max(0, h.at - latest.at))
    .sort((a, b) => a - b);
  return {
    version: latest.version,
    hosts: took.length,
    of: hosts.length,
    ...(took.length === 0
      ? {}
      : { p50Ms: took[Math.floor((took.length - 1) / 2)] ?? 0, maxMs: took[took.length - 1] ?? 0 }),
  };
}

export class ConfigStore {
  readonly #store: Store;
  readonly #blobs: BlobStore | undefined;
  readonly #clock: Clock;
  /** The write in progress per config key (writes to one path are serialized here). */
  readonly #writing = new Map<string, Promise<void>>();

  /** Without `blobs`, only contents up to INLINE_MAX_BYTES are accepted (kept in the Store). */
  constructor(store: Store, clock: Clock, blobs?: BlobStore) {
    this.#store = store;
    this.#clock = clock;
    this.#blobs = blobs;
  }

  get maxBytes(): number {
    return this.#blobs ? CONFIG_MAX_BYTES : INLINE_MAX_BYTES;
  }

  async latest(namespace: string, path: string): Promise<ConfigVersion> {
    checkConfigPath(path);
    const kv = await this.#store.get(keys.config(namespace, path));
    if (!kv) throw new NotFoundError('config', path, { details: { namespace } });
    return parseVersion(kv.value);
  }

  async version(namespace: string, path: string, version: number): Promise<ConfigVersion> {
    checkConfigPath(path);
    const kv = await this.#store.get(keys.configVersion(namespace, path, version));
    if (!kv) {
      await this.latest(namespace, path); // a missing path says so first
      throw new NotFoundError('config version', `${path}@${version}`, { details: { namespace, version } });
    }
    return parseVersion(kv.value);
  }

  /** Every version of a path, oldest first. */
  async history(namespace: string, path: string): Promise<ConfigVersion[]> {
    checkConfigPath(path);
    const { kvs } = await this.#store.range(keys.configVersionsPrefix(namespace, path));
    if (kvs.length === 0) throw new NotFoundError('config', path, { details: { namespace } });
    return kvs.map((kv) => parseVersion(kv.value));
  }

  /** The latest version of every config whose path starts with `prefix`, sorted by path. */
  async list(namespace: string, prefix = ''): Promise<ConfigVersion[]> {
    const { kvs } = await this.#store.range(keys.configsPrefix(namespace) + prefix);
    return kvs.map((kv) => parseVersion(kv.value));
  }

  /** The content of a version, verified against its digest. */
  async content(v: ConfigVersion): Promise<Buffer> {
    const digest = v.digest as Digest;
    if (this.#blobs && (await this.#blobs.has(digest))) return this.#blobs.readBytes(digest);
    const kv = await this.#store.get(keys.configBlob(digest));
    if (kv) {
      const bytes = Buffer.from(kv.value, 'base64');
      if (sha256Digest(bytes) !== digest)
        throw new DabbaError('DABBA_E_INTERNAL', `stored content of ${v.path} does not match ${digest}`);
      if (this.#blobs) await this.#blobs.putBytes(bytes, { digest, size: bytes.length });
      return bytes;
    }
    throw new DabbaError(
      'DABBA_E_UNAVAILABLE',
      `the content of ${v.path} version ${v.version} (${v.size} bytes) is kept by the replica that stored it, not this one`,
      { details: { digest } },
    );
  }

  /** The content from `offset` on, as a stream (large contents are not read into memory). */
  async open(v: ConfigVersion, offset = 0): Promise<Readable> {
    const digest = v.digest as Digest;
    if (this.#blobs && (await this.#blobs.has(digest))) return this.#blobs.open(digest, offset);
    return Readable.from([(await this.content(v)).subarray(offset)]);
  }

  /**
   * Stores a new version after checking it; the same content as the latest stores nothing. Writes
   * to one path are serialized within this replica; across replicas the transaction's guard decides
   * and the loser tries again on the new latest version.
   */
  async put(input: PutConfigInput): Promise<PutConfigResult> {
    const key = keys.config(input.namespace, input.path);
    const before = this.#writing.get(key) ?? Promise.resolve();
    const mine = before.then(() => this.#put(input));
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.#writing.set(key, settled);
    try {
      return await mine;
    } finally {
      if (this.#writing.get(key) === settled) this.#writing.delete(key);
    }
  }

  async #put(input: PutConfigInput): Promise<PutConfigResult> {
    checkConfigPath(input.path);
    if (input.content.length > this.maxBytes) {
      throw new DabbaError(
        'DABBA_E_BODY_TOO_LARGE',
        `config ${input.path} has ${input.content.length} bytes; the most is ${this.maxBytes}`,
        { details: { size: input.content.length, limit: this.maxBytes } },
      );
    }
    const format = configFormatOf(input.path);
    const digest = sha256Digest(input.content);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (attempt > 0) await sleep(Math.random() * 20 * Math.min(attempt, 10));
      const head = await this.#store.get(keys.config(input.namespace, input.path));
      const latest = head ? parseVersion(head.value) : undefined;
      if (latest?.digest === digest && input.revertOf === undefined)
        return { config: latest, changed: false };
      checkConfigContent(
        input.content,
        format,
        input.path,
        await this.#schemasFor(input.namespace, input.path),
      );
      const inline = await this.#keepContent(input.content, digest);
      const v: ConfigVersion = {
        namespace: input.namespace,
        path: input.path,
        version: (latest?.version ?? 0) + 1,
        digest,
        size: input.content.length,
        format,
        author: input.author,
        message: input.message,
        at: this.#clock.now(),
        ...(input.revertOf === undefined ? {} : { revertOf: input.revertOf }),
      };
      const value = JSON.stringify(v);
      const r = await this.#store.txn({
        compare: [
          {
            key: keys.config(input.namespace, input.path),
            target: 'mod',
            op: '=',
            modRevision: head?.modRevision ?? 0,
          },
        ],
        success: [
          { type: 'put', key: keys.config(input.namespace, input.path), value },
          { type: 'put', key: keys.configVersion(input.namespace, input.path, v.version), value },
          ...inline,
        ],
      });
      if (r.succeeded) return { config: v, changed: true };
    }
    throw new ConflictError(
      `config ${input.path} changed under this write ${ATTEMPTS} times in a row (other replicas writing it); try again`,
    );
  }

  /** Stores the content of version `to` again, as a new version. */
  async revert(
    namespace: string,
    path: string,
    to: number,
    author: string,
    message?: string,
  ): Promise<PutConfigResult> {
    const old = await this.version(namespace, path, to);
    const content = await this.content(old);
    return this.put({
      namespace,
      path,
      content,
      author,
      message: message ?? `revert to version ${to}`,
      revertOf: to,
    });
  }

  /** What a host has of a config, as it reports it. */
  async reportHost(namespace: string, path: string, state: ConfigHostState): Promise<void> {
    await this.#store.put(keys.configHost(namespace, path, state.host), JSON.stringify(state));
  }

  /** What a host has of several configs at once (one transaction per 64). */
  async reportHosts(reports: (ConfigHostState & { namespace: string; path: string })[]): Promise<void> {
    for (let i = 0; i < reports.length; i += 64) {
      await this.#store.txn({
        compare: [],
        success: reports.slice(i, i + 64).map(({ namespace, path, ...state }) => ({
          type: 'put' as const,
          key: keys.configHost(namespace, path, state.host),
          value: JSON.stringify(state),
        })),
      });
    }
  }

  async status(namespace: string, path: string): Promise<ConfigStatusView> {
    const latest = await this.latest(namespace, path);
    const { kvs } = await this.#store.range(keys.configHostsPrefix(namespace, path));
    const hosts = kvs.map((kv) => JSON.parse(kv.value) as ConfigHostState);
    return { latest, hosts, propagation: propagationOf(latest, hosts) };
  }

  async #schemasFor(namespace: string, path: string): Promise<SchemaRef[]> {
    const out: SchemaRef[] = [];
    // A schema is checked as a JSON Schema, not against the schemas above it.
    if (path.split('/').at(-1) === CONFIG_SCHEMA_NAME) return out;
    for (const p of schemaPathsFor(path)) {
      const kv = await this.#store.get(keys.config(namespace, p));
      if (!kv) continue;
      out.push({ path: p, text: (await this.content(parseVersion(kv.value))).toString('utf8') });
    }
    return out;
  }

  /**
   * Keeps a large content in the blob store; a small one goes into the Store in the version's own
   * transaction (the returned put, when the Store does not have it yet): one commit per change
   * instead of two, and no file written on the put's path.
   */
  async #keepContent(
    content: Buffer,
    digest: Digest,
  ): Promise<{ type: 'put'; key: string; value: string }[]> {
    if (content.length > INLINE_MAX_BYTES) {
      if (this.#blobs) await this.#blobs.putBytes(content, { digest, size: content.length });
      return [];
    }
    if (await this.#store.get(keys.configBlob(digest))) return [];
    return [{ type: 'put', key: keys.configBlob(digest), value: content.toString('base64') }];
  }
}
