/**
 * Garbage collection of an image store, on real images (docker-save archives imported, layers
 * unpacked): two images share a base layer; removing one frees its own config, manifest, layer and
 * unpacked layers and keeps the shared ones; a sweep keeps what is tagged or in use, and what is
 * too young to judge.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageStore, type ImageInfo } from './index.ts';
import { file, tarOf, writeDockerSave } from './test-fixtures.ts';

async function names(dir: string): Promise<Set<string>> {
  return new Set((await readdir(dir)).filter((n) => /^[0-9a-f]{64}$/.test(n)));
}

describe('image garbage collection', () => {
  let root: string;
  let n = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dabba-image-gc-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A store with `a` (base + a's layer) and `b` (base + b's layer), both unpacked. */
  async function twoImages(): Promise<{ s: ImageStore; a: ImageInfo; b: ImageInfo }> {
    const dir = join(root, `case-${n++}`);
    const s = await ImageStore.open(join(dir, 'store'));
    const base = await tarOf([file('etc/base', 'shared base layer\n')]);
    for (const name of ['a', 'b']) {
      const own = await tarOf([file(`srv/${name}`, `${name} only\n`.repeat(100))]);
      const archive = join(dir, `${name}.tar`);
      await writeDockerSave(archive, [base, own], { repoTags: [`${name}:1`] });
      await s.import(archive);
    }
    const a = await s.require('a:1');
    const b = await s.require('b:1');
    await s.unpack(a);
    await s.unpack(b);
    return { s, a, b };
  }

  const blobsDir = (s: ImageStore): string => join(s.dir, 'blobs', 'sha256');
  const hex = (d: string): string => d.slice('sha256:'.length);

  test("removing an image frees what only it reaches, at once; the other's stays whole", async () => {
    const { s, a, b } = await twoImages();
    const blobsBefore = await names(blobsDir(s));
    const layersBefore = await names(s.layers.root);
    assert.equal(layersBefore.size, 3, 'base (shared) + one chain per image');

    assert.equal(await s.untag('a:1'), true);
    const r = await s.collectGarbage({ only: [a.digest] });
    assert.equal(r.blobsRemoved, 3, "a's manifest, config and own layer");
    assert.equal(r.layersRemoved, 1, "a's own unpacked layer; the base is b's too");
    assert.ok(r.bytesFreed > 0);

    const blobsAfter = await names(blobsDir(s));
    for (const d of [a.digest, a.configDigest, a.manifest.layers[1]!.digest])
      assert.equal(blobsAfter.has(hex(d)), false, `${d} removed`);
    for (const d of [b.digest, b.configDigest, ...b.manifest.layers.map((l) => l.digest)])
      assert.equal(blobsAfter.has(hex(d)), true, `${d} kept`);
    assert.equal(blobsAfter.size, blobsBefore.size - 3);
    assert.equal((await names(s.layers.root)).size, 2);

    // b still loads and unpacks from what is left (nothing of it went).
    const again = await s.require('b:1');
    assert.equal((await s.unpack(again)).length, 2);
  });

  test('a sweep keeps tagged images and those in use; a grace period protects new content', async () => {
    const { s, a, b } = await twoImages();
    await s.untag('a:1');
    await s.untag('b:1');
    // Just written: too young to judge, nothing goes.
    const young = await s.collectGarbage();
    assert.equal(young.blobsRemoved + young.layersRemoved, 0);

    // Later: `a` is in use (a task runs it), `b` is reached by nothing.
    const later = Date.now() + 60 * 60 * 1000;
    const dry = await s.collectGarbage({ inUse: [a.digest], now: later, dryRun: true });
    assert.equal(dry.blobsRemoved, 3);
    assert.equal((await names(blobsDir(s))).size, 7, 'a dry run removes nothing');

    const r = await s.collectGarbage({ inUse: [a.digest], now: later });
    assert.equal(r.blobsRemoved, 3, "b's manifest, config and own layer");
    assert.equal(r.layersRemoved, 1);
    assert.ok(await s.blobs.has(a.digest));
    assert.equal(await s.blobs.has(b.digest), false);
    assert.ok((await s.diskUsage()) > 0);

    // Nothing in use any more: everything goes.
    const all = await s.collectGarbage({ now: later });
    assert.equal(all.blobsRemoved, 4);
    assert.equal((await names(blobsDir(s))).size, 0);
    assert.equal((await names(s.layers.root)).size, 0);
  });
});
