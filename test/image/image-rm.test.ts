/**
 * Image lifecycle on a real server: two images sharing a base layer, two jobs using them.
 * `dabba image rm` of an image a live job uses is refused (409, naming the job); once the job is
 * stopped it goes, with the blobs only it used, while the other image, still in use, stays whole
 * and can still be fetched. Then an agent's budget pass on its own store (ImageStore + imageGcPass)
 * removes the image no task there uses, oldest first, and keeps the one in use.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { imageGcPass } from '../../src/agent/image-gc.ts';
import { DabbaError } from '../../src/errors/index.ts';
import { ImageStore } from '../../src/image/index.ts';
import { file, tarOf, writeDockerSave } from '../../src/image/test-fixtures.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { cli } from '../helpers/dev-cluster.ts';

async function blobCount(store: ImageStore): Promise<number> {
  return (await readdir(join(store.dir, 'blobs', 'sha256'))).length;
}

describe('image rm and garbage collection', () => {
  let t: TestServer;
  let images: ImageStore;

  let imagesDir: string;

  before(async () => {
    imagesDir = await mkdtemp(join(tmpdir(), 'dabba-image-rm-'));
    images = await ImageStore.open(imagesDir);
    t = await startTestServer('image-rm', { images });
  });
  after(async () => {
    try {
      await t.close();
    } finally {
      await rm(imagesDir, { recursive: true, force: true });
    }
  });

  async function importTwo(dir: string, store?: ImageStore): Promise<void> {
    const base = await tarOf([file('etc/base', 'shared base\n')]);
    for (const name of ['web', 'db']) {
      const own = await tarOf([file(`srv/${name}`, `${name}\n`.repeat(500))]);
      const archive = join(dir, `${name}.tar`);
      await writeDockerSave(archive, [base, own], { repoTags: [`${name}:1`], cmd: ['sleep', '1000'] });
      if (store) await store.import(archive);
      else await t.client.importImage(createReadStream(archive));
    }
  }

  test('a used image is refused; once unused it goes with only its own blobs', async () => {
    await importTwo(t.dir);
    const before = await blobCount(images);
    for (const name of ['web', 'db'])
      await t.client.putJob(name, {
        name,
        replicas: 1,
        task: { image: `${name}:1`, command: ['sleep', '1000'] },
      });

    await assert.rejects(t.client.removeImage('web:1'), (e: unknown) => {
      assert.ok(e instanceof DabbaError);
      assert.equal(e.code, 'DABBA_E_CONFLICT');
      assert.match(
        e.message,
        /image web:1 is used by job web: stop it first, or remove it anyway with --force/,
      );
      return true;
    });
    assert.equal(await blobCount(images), before, 'a refused removal touches nothing');

    await t.client.stopJob('web');
    const r = await cli(['image', 'rm', 'web:1'], { addr: t.server.url });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^removed web:1 sha256:[0-9a-f]{12}: freed .* \(3 blobs, 0 unpacked layers\)$/m);
    assert.equal(await blobCount(images), before - 3, "web's manifest, config and own layer");

    assert.deepEqual(
      (await t.client.listImages()).map((i) => i.name),
      ['db:1'],
    );
    // db is whole: its manifest and every blob can still be fetched.
    const db = await images.require('db:1');
    for (const d of [db.configDigest, ...db.manifest.layers.map((l) => l.digest)])
      assert.ok(await images.hasBlob(d), `${d} kept`);

    const again = await cli(['image', 'rm', 'web:1'], { addr: t.server.url });
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /not found/);
  });

  test("an agent's budget pass removes what no task there uses, keeps what one does", async () => {
    const store = await ImageStore.open(join(t.dir, 'agent-images'));
    await importTwo(t.dir, store);
    const db = await store.require('db:1');
    const pass = await imageGcPass({
      images: store,
      budgetBytes: 1,
      inUse: () => ['db:1'],
      logger: silentLogger,
    });
    assert.deepEqual(pass.removed, ['web:1']);
    assert.ok(pass.usageAfter < pass.usageBefore);
    assert.equal((await store.tagged()).length, 1);
    for (const d of [db.digest, db.configDigest, ...db.manifest.layers.map((l) => l.digest)])
      assert.ok(await store.hasBlob(d), `${d} kept: a task uses it`);
  });
});
