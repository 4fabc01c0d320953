/**
 * Images across server replicas, in one process: a real server (replica A) with its own image store,
 * and the image side of two more replicas (B, C: SharedImages on the same store, each with an image
 * store of its own, asking A over HTTP with a replica token). B serves an image pushed to A by
 * fetching it on demand (verified, then kept); C, which was "down" when the image was removed on
 * A, drops its copy at its next pass; an image found in a replica's store and never recorded is
 * published to the catalog.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageStore, type Digest } from '../../src/image/index.ts';
import { file, tarOf, writeDockerSave } from '../../src/image/test-fixtures.ts';
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { PeerCredential, SharedImages } from '../../src/server/images/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';

async function blobs(store: ImageStore): Promise<string[]> {
  return (await readdir(join(store.dir, 'blobs', 'sha256')).catch(() => [] as string[])).sort();
}

describe('images shared between server replicas', () => {
  let t: TestServer;
  let dir: string;
  const stores: ImageStore[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-shared-images-'));
    for (const n of ['a', 'b', 'c']) stores.push(await ImageStore.open(join(dir, n)));
    t = await startTestServer('shared-images', { images: stores[0]!, replicaId: 'replica-a' });
  });
  after(async () => {
    try {
      await t.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  function replica(id: string, local: ImageStore): SharedImages {
    return new SharedImages({
      local,
      store: t.store,
      clock: systemClock,
      replicaId: id,
      logger: silentLogger,
      credential: new PeerCredential(t.store, systemClock, id, true),
      peers: () => Promise.resolve([{ id: 'replica-a', url: t.server.url }]),
    });
  }

  test('a replica serves an image pushed to another by fetching it; rm reaches a replica that was away', async () => {
    const archive = join(dir, 'app.tar');
    await writeDockerSave(
      archive,
      [await tarOf([file('etc/base', 'base\n')]), await tarOf([file('srv/app', 'app\n'.repeat(300))])],
      { repoTags: ['app:1'], cmd: ['sleep', '1000'] },
    );
    const [imported] = await t.client.importImage(createReadStream(archive));
    assert.ok(imported);
    const digest = imported.digest as Digest;
    const b = replica('replica-b', stores[1]!);
    const c = replica('replica-c', stores[2]!);

    // B has nothing yet: the catalog names the image, and B fetches it from A when asked.
    assert.deepEqual(await blobs(stores[1]!), []);
    assert.equal(await b.resolve('app:1'), digest);
    assert.deepEqual(
      (await b.list()).map((i) => [i.name, i.digest]),
      [['app:1', digest]],
    );
    const m = await b.manifest('app:1');
    assert.equal(m?.digest, digest);
    assert.deepEqual(await blobs(stores[1]!), await blobs(stores[0]!), 'B now holds every blob A has');
    assert.equal(await stores[1]!.resolve('app:1'), digest, 'and the name, in its own store');

    // C copies it in a pass (what the watch triggers on a running replica).
    const pass = await c.sync();
    assert.deepEqual(pass.fetched, ['app:1']);
    assert.equal(await stores[2]!.resolve('app:1'), digest);

    // Removed through A while C is away: A and the catalog forget it at once; B's pass and C's
    // next pass (after its "restart") drop their copies and the blobs only it used.
    await t.client.removeImage('app:1');
    assert.equal(await stores[0]!.resolve('app:1'), undefined);
    assert.equal(await b.resolve('app:1'), undefined, 'a removed name is unknown even where a copy is left');
    assert.equal(await b.manifest('app:1'), undefined);
    assert.deepEqual(await t.client.listImages(), []);
    for (const [r, s] of [
      [b, stores[1]!],
      [replica('replica-c', stores[2]!), stores[2]!],
    ] as const) {
      const p = await r.sync();
      assert.deepEqual(p.dropped, ['app:1']);
      assert.equal(await s.resolve('app:1'), undefined);
      assert.deepEqual(await blobs(s), [], 'every blob of the image is gone');
      assert.deepEqual((await r.sync()).published, [], 'the dropped image is not published again');
    }
  });

  test('an image only in a replica\u2019s own store is published; a push after rm brings the name back', async () => {
    const local = await ImageStore.open(join(dir, 'd'));
    const archive = join(dir, 'old.tar');
    await writeDockerSave(archive, [await tarOf([file('old', 'old\n')])], { repoTags: ['old:1'] });
    const [info] = await local.import(archive);
    assert.ok(info);
    const d = replica('replica-d', local);
    assert.deepEqual((await d.sync()).published, ['old:1']);
    assert.equal(await replica('replica-b', stores[1]!).resolve('old:1'), info.digest);
    assert.ok((await t.client.listImages()).some((i) => i.name === 'old:1'));

    await t.client.removeImage('old:1');
    assert.deepEqual((await d.sync()).dropped, ['old:1']);
    await t.client.importImage(createReadStream(archive));
    assert.equal(await d.resolve('old:1'), info.digest, 'the name is back after a new push');
    assert.deepEqual((await d.sync()).fetched, ['old:1']);
  });
});
