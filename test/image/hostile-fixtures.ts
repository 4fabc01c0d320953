/**
 * Builders for hostile image archives and canaries that tell whether anything outside an unpack
 * root changed. Used by hostile-archives.test.ts.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sha256Digest, type Digest } from '../../src/image/index.ts';
import { encodeHeader, type TarHeader } from '../../src/image/tar-header.ts';
import { tarOf } from '../../src/image/test-fixtures.ts';
import type { TarWriteEntry } from '../../src/image/tar-writer.ts';

export const MiB = 1024 * 1024;

export function symlink(path: string, linkpath: string): TarWriteEntry {
  return { header: { path, type: 'symlink', linkpath } };
}

export function hardlink(path: string, linkpath: string): TarWriteEntry {
  return { header: { path, type: 'hardlink', linkpath } };
}

export function device(
  path: string,
  type: 'char' | 'block',
  devmajor: number,
  devminor: number,
): TarWriteEntry {
  return { header: { path, type, devmajor, devminor, mode: 0o666 } };
}

function header(h: Partial<TarHeader> & { path: string; type: TarHeader['type'] }): TarHeader {
  return {
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    linkpath: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
    ...h,
  };
}

/**
 * A gzip layer holding one file of `bytes` zeros (a multiple of 16 MiB): concatenated gzip members,
 * each 16 MiB of zeros compressed once, so 10 GiB costs ~10 MB and no time to build. Returns the
 * compressed layer and the diff id (sha256 of the uncompressed tar, computed only when asked: it
 * means hashing every zero).
 */
export function zeroBomb(bytes: number, withDiffId = false): { layer: Buffer; diffId: Digest } {
  const chunk = 16 * MiB;
  if (bytes % chunk !== 0) throw new Error('bomb size must be a multiple of 16 MiB');
  const zeros = Buffer.alloc(chunk);
  const member = gzipSync(zeros, { level: 9 });
  const head = encodeHeader(header({ path: 'zeros', type: 'file', size: bytes }));
  const end = Buffer.alloc(1024);
  const n = bytes / chunk;
  const layer = Buffer.concat([gzipSync(head), ...Array.from({ length: n }, () => member), gzipSync(end)]);
  let diffId: Digest = sha256Digest('not computed');
  if (withDiffId) {
    const h = createHash('sha256').update(head);
    for (let i = 0; i < n; i++) h.update(zeros);
    diffId = `sha256:${h.update(end).digest('hex')}`;
  }
  return { layer, diffId };
}

/** A tar whose first entry has a raw pax header body of `bytes` bytes (a path that long). */
export function hugePaxTar(bytes: number): Buffer {
  const record = (key: string, value: string): string => {
    const body = ` ${key}=${value}\n`;
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    return `${len}${body}`;
  };
  const pax = Buffer.from(record('path', 'a'.repeat(bytes)));
  const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
  return Buffer.concat([
    asPaxHeader(encodeHeader(header({ path: 'PaxHeader', type: 'file', size: pax.length }))),
    pad(pax),
    encodeHeader(header({ path: 'x', type: 'file' })),
    Buffer.alloc(1024),
  ]);
}

/** A typeflag 'x' header (encodeHeader writes '0' for type file; patch the flag and checksum). */
export function asPaxHeader(block: Buffer): Buffer {
  const b = Buffer.from(block.subarray(0, 512));
  b.write('x', 156, 1, 'ascii');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i] ?? 0;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return b;
}

/** An OCI layout archive with the given index.json and blobs (content stored under `hex`). */
export function ociArchive(index: Buffer, blobs: { hex: string; content: Buffer }[]): Promise<Buffer> {
  const entries: TarWriteEntry[] = [
    { header: { path: 'oci-layout', type: 'file' }, body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { header: { path: 'index.json', type: 'file' }, body: index },
    ...blobs.map((b) => ({
      header: { path: `blobs/sha256/${b.hex}`, type: 'file' as const },
      body: b.content,
    })),
  ];
  return tarOf(entries);
}

/** Everything under `dir`: type, mode, owner, size, mtime, content hash or link target. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(rel: string): Promise<void> {
    const abs = rel ? join(dir, rel) : dir;
    const st = await lstat(abs);
    let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${st.nlink}`;
    if (st.isSymbolicLink()) what += ` -> ${await readlink(abs)}`;
    else if (st.isFile())
      what += ` ${createHash('sha256')
        .update(await readFile(abs))
        .digest('hex')}`;
    out[rel || '.'] = what;
    if (st.isDirectory()) for (const n of (await readdir(abs)).sort()) await walk(rel ? `${rel}/${n}` : n);
  }
  await walk('');
  return out;
}
