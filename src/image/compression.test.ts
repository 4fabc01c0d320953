/**
 * Decompression of a truncated gzip file: refused as invalid, also when the stream fails before
 * anyone reads it (the pipe runs ahead of the reader, so a small file can fail at once).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { openDecompressed } from './compression.ts';
import { ImageError } from './errors.ts';

test('a truncated gzip failing before the first read is an InvalidImage error, not an uncaught one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-gz-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const gz = gzipSync(Buffer.alloc(5000, 'x'));
  const file = join(dir, 'cut.gz');
  await writeFile(file, gz.subarray(0, gz.length - 6));
  const stream = await openDecompressed(file, { what: 'layer x' });
  // Let the pipe run to the end of the file, and gunzip fail, before the first read.
  await new Promise((r) => setTimeout(r, 200));
  await assert.rejects(
    async () => {
      for await (const _chunk of stream) {
        // drained
      }
    },
    (e: unknown) =>
      e instanceof ImageError && e.reason === 'InvalidImage' && /truncated or corrupt/.test(e.message),
  );
});

test('a whole gzip file is read to its end', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-gz-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'whole.gz');
  await writeFile(file, gzipSync(Buffer.alloc(300_000, 'y')));
  const stream = await openDecompressed(file);
  await new Promise((r) => setTimeout(r, 200));
  let n = 0;
  for await (const chunk of stream) n += chunk.length;
  assert.equal(n, 300_000);
});
