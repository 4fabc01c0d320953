/**
 * Keys between the Store and etcd: UTF-8 bytes behind an optional namespace prefix (so that several
 * stores can share one cluster), prefix scans as etcd key ranges, and etcd's KeyValue as ours.
 */
import type { IKeyValue } from 'etcd3';
import { StoreError } from '../../errors/index.ts';
import type { KeyValue } from '../store.ts';

/** etcd's "every key from here on" range end, and its "every key" start. */
const ZERO = Buffer.from([0]);

export class Keyspace {
  readonly namespace: string;
  readonly #ns: Buffer;

  constructor(namespace: string) {
    this.namespace = namespace;
    this.#ns = Buffer.from(namespace, 'utf8');
  }

  /** The etcd key of a store key. */
  key(key: string): Buffer {
    return Buffer.concat([this.#ns, Buffer.from(key, 'utf8')]);
  }

  /** The etcd range [key, range_end) holding every key that starts with prefix. */
  prefix(prefix: string): { key: Buffer; range_end: Buffer } {
    const start = this.key(prefix);
    if (start.length === 0) return { key: ZERO, range_end: ZERO };
    return { key: start, range_end: prefixEnd(start) ?? ZERO };
  }

  /** The store key of an etcd key (which must lie in this namespace). */
  strip(key: Buffer): string {
    if (key.length < this.#ns.length || !key.subarray(0, this.#ns.length).equals(this.#ns)) {
      throw new StoreError(`etcd returned key ${JSON.stringify(key.toString())} outside namespace`, {
        details: { namespace: this.namespace },
      });
    }
    return key.subarray(this.#ns.length).toString('utf8');
  }

  kv(raw: IKeyValue): KeyValue {
    return {
      key: this.strip(raw.key),
      value: raw.value.toString('utf8'),
      createRevision: Number(raw.create_revision),
      modRevision: Number(raw.mod_revision),
      version: Number(raw.version),
      lease: Number(raw.lease),
    };
  }
}

/**
 * The smallest byte string above every string that starts with prefix (etcd compares keys as bytes),
 * or undefined when there is none (prefix is all 0xff).
 */
export function prefixEnd(prefix: Buffer): Buffer | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const b = prefix[i] ?? 0xff;
    if (b < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = b + 1;
      return end;
    }
  }
  return undefined;
}

/** etcd's int64 fields arrive as decimal strings. */
export function num(v: string | number | undefined): number {
  return v === undefined ? 0 : Number(v);
}
