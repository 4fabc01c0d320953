/**
 * A host's content cache read the way a child's stream reads it: with ReadBuffers each piece is
 * read into one of the given buffers and the next read waits until one is given back; an abort
 * ends the wait.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../lib/index.ts';
import { emptyDataStats, type ConfigMeta } from '../../model/index.ts';
import { ContentCache, ReadBuffers } from './content-cache.ts';

const MiB = 1024 * 1024;
let dir: string;
let cache: ContentCache;
const bytes = randomBytes(2 * MiB + 12_345);
const meta: ConfigMeta = {
  namespace: 'default',
  path: 'big/blob.bin',
  version: 1,
  digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
  size: bytes.length,
  // Carried with the metadata: the cache writes it without an upstream.
  content: bytes.toString('base64'),
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dabba-content-cache-'));
  cache = new ContentCache({
    dir,
    logger: silentLogger,
    stats: emptyDataStats(),
    upstreams: () => [],
    suspect: () => undefined,
  });
  await cache.file(meta);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('pieces are read into the given buffers, and a read waits until one is given back', async () => {
  const ac = new AbortController();
  const buffers = new ReadBuffers(1, ac.signal);
  const it = cache.read(meta, 0, ac.signal, buffers);
  const first = await it.next();
  assert.equal(first.done, false);
  const a = first.value;
  assert.equal(a.length, MiB);
  assert.deepEqual(a, bytes.subarray(0, MiB));
  const copy = Buffer.from(a);
  // The only buffer is out: the next piece waits for it.
  let second: IteratorResult<Buffer> | undefined;
  const pending = it.next().then((r) => (second = r));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(second, undefined);
  buffers.give(a);
  await pending;
  const b = second!.value as Buffer;
  assert.equal(b.buffer, a.buffer, 'the same buffer, reused');
  assert.deepEqual(b, bytes.subarray(MiB, 2 * MiB));
  assert.deepEqual(copy, bytes.subarray(0, MiB));
  buffers.give(b);
  const rest: Buffer[] = [];
  for await (const piece of { [Symbol.asyncIterator]: () => it }) {
    rest.push(Buffer.from(piece));
    buffers.give(piece);
  }
  assert.deepEqual(Buffer.concat(rest), bytes.subarray(2 * MiB));
});

test('a read waiting for a buffer ends when its signal aborts', async () => {
  const ac = new AbortController();
  const buffers = new ReadBuffers(1, ac.signal);
  const it = cache.read(meta, 0, ac.signal, buffers);
  await it.next();
  const waiting = it.next();
  ac.abort();
  await assert.rejects(waiting, (e: Error) => e.name === 'AbortError');
});

test('without buffers every piece is a new one', async () => {
  const ac = new AbortController();
  const pieces: Buffer[] = [];
  for await (const piece of cache.read(meta, 0, ac.signal)) pieces.push(piece);
  assert.deepEqual(Buffer.concat(pieces), bytes);
  assert.notEqual(pieces[0]?.buffer, pieces[1]?.buffer);
});
