/** Layers and archives may be gzip-compressed; tell by the magic bytes, not by names or media types. */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ImageError } from './errors.ts';

export type Compression = 'gzip' | 'zstd' | 'none';

export async function detectCompression(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip';
    if (bytesRead >= 4 && buf.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

/** The file's content, gunzipped when it is gzip. zstd is refused with a clear error. */
export async function openDecompressed(path: string): Promise<Readable> {
  const c = await detectCompression(path);
  if (c === 'zstd') throw new ImageError('UnsupportedMediaType', 'zstd-compressed layers are not supported');
  const raw = createReadStream(path, { highWaterMark: 256 * 1024 });
  if (c === 'none') return raw;
  const gunzip = createGunzip();
  raw.on('error', (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}
