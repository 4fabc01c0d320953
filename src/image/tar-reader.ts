/**
 * Streaming tar reader: yields entries in archive order; each entry's body must be read (or it is
 * skipped) before asking for the next one. Applies pax ('x', 'g') and GNU long-name ('L', 'K') records.
 * Bounded: entry count, path and link lengths and the size of pax/GNU meta records are checked
 * against `limits` before anything is buffered, and a cut archive is an error, not a short read.
 */
import { Readable } from 'node:stream';
import { ImageError } from './errors.ts';
import { DEFAULT_LIMITS, tooLarge, type ImageLimits } from './limits.ts';
import {
  BLOCK,
  decodeHeader,
  isZeroBlock,
  padding,
  parsePax,
  typeFromFlag,
  type RawHeader,
  type TarEntryType,
  type TarHeader,
} from './tar-header.ts';

export interface TarEntry {
  header: TarHeader;
  /** Extended attributes from pax records (SCHILY.xattr.*), if any. */
  xattrs: Record<string, string>;
  /** The entry's content; read it at most once, before the next entry. */
  body(): AsyncIterable<Buffer>;
  /** The whole content in memory (for small entries such as JSON). */
  bytes(): Promise<Buffer>;
}

class ByteQueue {
  private chunks: Buffer[] = [];
  private length = 0;
  private readonly it: AsyncIterator<Uint8Array>;
  private done = false;

  constructor(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.it =
      Symbol.asyncIterator in source
        ? source[Symbol.asyncIterator]()
        : Readable.from(source)[Symbol.asyncIterator]();
  }

  /** Bytes buffered and not taken yet. */
  get buffered(): number {
    return this.length;
  }

  /** Buffers at least n bytes; false if the source ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        break;
      }
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      if (b.length === 0) continue;
      this.chunks.push(b);
      this.length += b.length;
    }
    return this.length >= n;
  }

  /** Takes exactly n buffered bytes (call fill first). */
  take(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.length -= n;
      return out;
    }
    const all = Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** Up to max bytes that are available now or after one read; empty at end. */
  async takeSome(max: number): Promise<Buffer> {
    if (this.length === 0 && !(await this.fill(1))) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (!first) return Buffer.alloc(0);
    return this.take(Math.min(max, first.length));
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const b = await this.takeSome(left);
      if (b.length === 0) throw truncated();
      left -= b.length;
    }
  }

  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.it.return?.();
    }
  }
}

function truncated(): ImageError {
  return new ImageError('InvalidImage', 'tar archive is truncated (it ends inside an entry)');
}

export type TarLimits = Pick<ImageLimits, 'maxEntries' | 'maxPathBytes' | 'maxLinkBytes' | 'maxMetaBytes'>;

/** A pax number (uid, gid, mtime): finite and not negative, or the archive is refused. */
function paxNumber(pax: Record<string, string>, key: string, fallback: number, integer: boolean): number {
  const text = pax[key];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isSafeInteger(n)))
    throw new ImageError('InvalidImage', `bad pax ${key} "${text.slice(0, 40)}" in tar`);
  return n;
}

function checkHeader(header: TarHeader, limits: TarLimits): void {
  const pathBytes = Buffer.byteLength(header.path);
  if (pathBytes > limits.maxPathBytes)
    throw tooLarge(`tar entry path (${pathBytes} bytes)`, 'maxPathBytes', limits.maxPathBytes);
  const linkBytes = Buffer.byteLength(header.linkpath);
  if (linkBytes > limits.maxLinkBytes)
    throw tooLarge(
      `link target of ${header.path.slice(0, 200)} (${linkBytes} bytes)`,
      'maxLinkBytes',
      limits.maxLinkBytes,
    );
  if (header.path.includes('\0') || header.linkpath.includes('\0'))
    throw new ImageError(
      'InvalidImage',
      `tar entry ${JSON.stringify(header.path.slice(0, 200))} has a NUL byte in its path or link`,
    );
}

/** An entry's header: the raw one with its pax records and GNU long names applied. */
function entryHeader(
  raw: RawHeader,
  pax: Record<string, string>,
  type: TarEntryType | undefined,
  size: number,
  longName: string | undefined,
  longLink: string | undefined,
): TarHeader {
  const header: TarHeader = {
    path: pax['path'] ?? longName ?? raw.path,
    type: type ?? 'file',
    mode: raw.mode,
    uid: paxNumber(pax, 'uid', raw.uid, true),
    gid: paxNumber(pax, 'gid', raw.gid, true),
    size: type === 'file' ? size : 0,
    mtime: paxNumber(pax, 'mtime', raw.mtime, false),
    linkpath: pax['linkpath'] ?? longLink ?? raw.linkpath,
    uname: pax['uname'] ?? raw.uname,
    gname: pax['gname'] ?? raw.gname,
    devmajor: raw.devmajor,
    devminor: raw.devminor,
  };
  return header;
}

/** The extended attributes an entry carries as SCHILY.xattr.* pax records. */
function paxXattrs(pax: Record<string, string>): Record<string, string> {
  const xattrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(pax)) {
    if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice('SCHILY.xattr.'.length)] = v;
  }
  return xattrs;
}

export async function* readTar(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  limits: TarLimits = DEFAULT_LIMITS,
): AsyncGenerator<TarEntry> {
  const q = new ByteQueue(source);
  let entries = 0;
  let globalPax: Record<string, string> = {};
  let nextPax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      if (!(await q.fill(BLOCK))) {
        // A missing end-of-archive marker is tolerated (many writers omit it), a cut header is not.
        if (q.buffered > 0) throw truncated();
        return;
      }
      const block = q.take(BLOCK);
      if (isZeroBlock(block)) return;
      const raw = decodeHeader(block);
      const pax = { ...globalPax, ...nextPax };
      const size = pax['size'] !== undefined ? Number(pax['size']) : raw.size;
      if (!Number.isSafeInteger(size) || size < 0)
        throw new ImageError('InvalidImage', 'bad entry size in tar');

      if (raw.typeflag === 'x' || raw.typeflag === 'g' || raw.typeflag === 'L' || raw.typeflag === 'K') {
        if (size > limits.maxMetaBytes)
          throw tooLarge(`tar ${raw.typeflag} header (${size} bytes)`, 'maxMetaBytes', limits.maxMetaBytes);
        if (!(await q.fill(size + padding(size)))) throw truncated();
        const body = Buffer.from(q.take(size));
        q.take(padding(size));
        if (raw.typeflag === 'x') nextPax = { ...nextPax, ...parsePax(body) };
        else if (raw.typeflag === 'g') globalPax = { ...globalPax, ...parsePax(body) };
        else {
          const nul = body.indexOf(0);
          const text = body.subarray(0, nul === -1 ? body.length : nul).toString('utf8');
          if (raw.typeflag === 'L') longName = text;
          else longLink = text;
        }
        continue;
      }

      if (++entries > limits.maxEntries)
        throw tooLarge(
          `tar archive (more than ${limits.maxEntries} entries)`,
          'maxEntries',
          limits.maxEntries,
        );
      const type = typeFromFlag(raw.typeflag);
      const header = entryHeader(raw, pax, type, size, longName, longLink);
      const xattrs = paxXattrs(pax);
      checkHeader(header, limits);
      nextPax = {};
      longName = undefined;
      longLink = undefined;

      // Unknown entry types (e.g. GNU sparse) are refused rather than silently mangled.
      if (type === undefined) {
        throw new ImageError(
          'InvalidImage',
          `unsupported tar entry type "${raw.typeflag}" for ${header.path}`,
        );
      }

      // Links carry no data whatever their size field says; other types carry `size` bytes.
      const dataSize = type === 'hardlink' || type === 'symlink' ? 0 : size;
      let left = dataSize;
      let consumed = false;
      const body = async function* (): AsyncGenerator<Buffer> {
        if (consumed) throw new Error('tar entry body read twice');
        consumed = true;
        while (left > 0) {
          const chunk = await q.takeSome(left);
          if (chunk.length === 0) throw truncated();
          left -= chunk.length;
          yield chunk;
        }
      };
      const entry: TarEntry = {
        header,
        xattrs,
        body,
        async bytes() {
          const parts: Buffer[] = [];
          for await (const c of body()) parts.push(Buffer.from(c));
          return Buffer.concat(parts);
        },
      };
      yield entry;
      if (left > 0) await q.skip(left);
      await q.skip(padding(dataSize));
    }
  } finally {
    await q.close();
  }
}
