/** Streaming tar writer, and a directory walker producing a deterministic (sorted) entry stream. */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageError } from './errors.ts';
import { BLOCK, encodeHeader, padding, type TarEntryType, type TarHeader } from './tar-header.ts';

export interface TarWriteEntry {
  header: Partial<TarHeader> & { path: string; type: TarEntryType };
  /** Content of a file entry: bytes, or chunks adding up to header.size. */
  body?: Uint8Array | AsyncIterable<Uint8Array>;
}

function fullHeader(h: TarWriteEntry['header'], size: number): TarHeader {
  return {
    mode: h.type === 'directory' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    linkpath: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
    ...h,
    size,
  };
}

/** Tar bytes for the entries, ending with the two zero blocks. */
export async function* writeTar(
  entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>,
): AsyncGenerator<Buffer> {
  for await (const e of entries) {
    const isFile = e.header.type === 'file';
    if (!isFile || e.body === undefined) {
      yield encodeHeader(fullHeader(e.header, 0));
      continue;
    }
    if (e.body instanceof Uint8Array) {
      yield encodeHeader(fullHeader(e.header, e.body.length));
      yield Buffer.from(e.body.buffer, e.body.byteOffset, e.body.byteLength);
      const pad = padding(e.body.length);
      if (pad) yield Buffer.alloc(pad);
      continue;
    }
    const size = e.header.size;
    if (size === undefined) throw new Error(`tar entry ${e.header.path}: streamed body needs header.size`);
    yield encodeHeader(fullHeader(e.header, size));
    let written = 0;
    for await (const chunk of e.body) {
      written += chunk.length;
      if (written > size) throw new ImageError('InvalidImage', `${e.header.path} grew while being archived`);
      yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    }
    if (written !== size)
      throw new ImageError('InvalidImage', `${e.header.path} shrank while being archived`);
    const pad = padding(size);
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(BLOCK * 2);
}

function devNumbers(rdev: number): { devmajor: number; devminor: number } {
  return {
    devmajor: Math.floor(rdev / 256) & 0xfff,
    devminor: (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00),
  };
}

/**
 * Entries for everything under `dir` (not `dir` itself), depth-first in byte order of names, with
 * owners, modes, mtimes, symlinks, hard links (by inode) and device nodes. Sockets are skipped.
 */
export async function* directoryEntries(
  dir: string,
  options: { owner?: { uid: number; gid: number }; mtime?: number } = {},
): AsyncGenerator<TarWriteEntry> {
  const owner = options.owner;
  const fixedMtime = options.mtime;
  const seen = new Map<string, string>();
  async function* walk(rel: string): AsyncGenerator<TarWriteEntry> {
    const names = (await readdir(join(dir, rel))).sort((a, b) =>
      Buffer.compare(Buffer.from(a), Buffer.from(b)),
    );
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const abs = join(dir, path);
      const st = await lstat(abs);
      const base = {
        mode: st.mode & 0o7777,
        uid: owner?.uid ?? st.uid,
        gid: owner?.gid ?? st.gid,
        mtime: fixedMtime ?? Math.floor(st.mtimeMs / 1000),
      };
      if (st.isDirectory()) {
        yield { header: { ...base, path: `${path}/`, type: 'directory' } };
        yield* walk(path);
      } else if (st.isSymbolicLink()) {
        yield { header: { ...base, path, type: 'symlink', linkpath: await readlink(abs) } };
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? seen.get(key) : undefined;
        if (first !== undefined) {
          yield { header: { ...base, path, type: 'hardlink', linkpath: first } };
          continue;
        }
        if (st.nlink > 1) seen.set(key, path);
        yield { header: { ...base, path, type: 'file', size: st.size }, body: createReadStream(abs) };
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        yield {
          header: { ...base, path, type: st.isCharacterDevice() ? 'char' : 'block', ...devNumbers(st.rdev) },
        };
      } else if (st.isFIFO()) {
        yield { header: { ...base, path, type: 'fifo' } };
      }
    }
  }
  yield* walk('');
}
