import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NotFoundError } from '../errors/index.ts';
import {
  ImageStore,
  createBuiltinImage,
  imageDefaults,
  ImageError,
  sha256Digest,
  readTar,
  type Digest,
} from './index.ts';
import { openDecompressed } from './compression.ts';
import { busyboxLayer, collect, dir, file, tarOf, writeDockerSave } from './test-fixtures.ts';
import { writeTar } from './tar-writer.ts';

function isImageError(reason: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ImageError, `expected ImageError(${reason}), got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.details['reason'], reason);
    return true;
  };
}

describe('ImageStore', () => {
  let root: string;
  let bbLayer: Buffer;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dabba-image-test-'));
    bbLayer = await busyboxLayer();
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  let n = 0;
  const fresh = (): Promise<ImageStore> => ImageStore.open(join(root, `store-${n++}`));

  test('createFromDir packs a rootfs as a one-layer OCI image; list/get by name[:tag]; defaults', async () => {
    const s = await fresh();
    const img = await createBuiltinImage(s, 'hello');
    assert.equal(img.name, 'hello:latest');
    assert.equal(img.manifest.layers.length, 1);
    assert.equal(img.manifest.layers[0]?.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal((await s.get('hello'))?.digest, img.digest);
    assert.equal((await s.get('hello:latest'))?.digest, img.digest);
    assert.equal((await s.get(`hello@${img.digest}`))?.digest, img.digest);
    assert.equal(await s.get('hello:other'), undefined);
    await assert.rejects(s.require('nope'), NotFoundError);
    await assert.rejects(s.get('Bad Name!'), isImageError('InvalidReference'));
    const d = imageDefaults(img);
    assert.deepEqual(d.args, ['httpd', '-f', '-p', '8080', '-h', '/www']);
    assert.equal(d.env['GREETING'], 'hello');
    assert.ok(d.env['PATH']?.includes('/bin'));
    assert.equal(d.workingDir, '/');
    const list = await s.list();
    assert.deepEqual(
      list.map((i) => [i.name, i.digest, i.layers]),
      [['hello:latest', img.digest, 1]],
    );
    // The layer holds busybox, its applet links and the CGI, owned by root.
    const layerDigest = img.manifest.layers[0]?.digest;
    assert.ok(layerDigest);
    const names = new Map<string, { type: string; uid: number; linkpath: string }>();
    for await (const e of readTar(await openDecompressed(s.blobs.path(layerDigest)))) {
      names.set(e.header.path, { type: e.header.type, uid: e.header.uid, linkpath: e.header.linkpath });
    }
    assert.equal(names.get('bin/busybox')?.type, 'file');
    assert.deepEqual(names.get('bin/sh'), { type: 'symlink', uid: 0, linkpath: '/bin/busybox' });
    assert.equal(names.get('www/cgi-bin/index.cgi')?.type, 'file');
    assert.equal(names.get('etc/passwd')?.uid, 0);
    assert.equal(await s.untag('hello'), true);
    assert.equal(await s.get('hello'), undefined);
    assert.equal(await s.hasBlob(img.digest), true, 'untag keeps the blobs');
  });

  test('OCI layout directory and archive round-trip between stores', async () => {
    const a = await fresh();
    const img = await createBuiltinImage(a, 'busybox');
    const layout = join(root, 'layout');
    const archive = join(root, 'busybox-oci.tar');
    await a.exportLayout(['busybox'], layout);
    await a.exportArchive(['busybox'], archive);
    assert.deepEqual((await readdir(layout)).sort(), ['blobs', 'index.json', 'oci-layout']);

    const b = await fresh();
    const fromDir = await b.import(layout);
    assert.deepEqual(
      fromDir.map((i) => [i.name, i.digest]),
      [['busybox:latest', img.digest]],
    );
    const c = await fresh();
    const fromTar = await c.import(archive);
    assert.deepEqual(
      fromTar.map((i) => [i.name, i.digest]),
      [['busybox:latest', img.digest]],
    );
    // Renaming a single image on import.
    const renamed = await c.import(archive, { name: 'tools:1.0' });
    assert.equal(renamed[0]?.name, 'tools:1.0');
    assert.equal((await c.get('tools:1.0'))?.digest, img.digest);
    for (const l of img.manifest.layers) assert.equal(await c.hasBlob(l.digest), true);
  });

  test('imports a docker save tarball (plain and gzip), named by RepoTags or the given name', async () => {
    const extra = await tarOf([dir('data'), file('data/hello.txt', 'hi\n')]);
    const plain = join(root, 'docker-save.tar');
    await writeDockerSave(plain, [bbLayer, extra], {
      repoTags: ['dsave:v1'],
      cmd: ['sh', '-c', 'echo from-image'],
    });
    const s = await fresh();
    const [img] = await s.import(plain);
    assert.ok(img);
    assert.equal(img.name, 'dsave:v1');
    assert.equal(img.manifest.layers.length, 2);
    assert.deepEqual(img.config.rootfs.diff_ids, [sha256Digest(bbLayer), sha256Digest(extra)]);
    assert.deepEqual(imageDefaults(img).args, ['sh', '-c', 'echo from-image']);
    assert.equal(imageDefaults(img).env['FROM_IMAGE'], 'yes');
    assert.equal((await s.list()).length, 1);

    const gz = join(root, 'docker-save.tar.gz');
    await writeDockerSave(gz, [extra], { gzip: true });
    await assert.rejects(s.import(gz), isImageError('InvalidImage'), 'an unnamed image needs a name');
    const [named] = await s.import(gz, { name: 'unnamed' });
    assert.equal(named?.name, 'unnamed:latest');
  });

  test('digest verification: a corrupted blob or a wrong diff id is refused and not stored', async () => {
    const a = await fresh();
    const img = await createBuiltinImage(a, 'busybox');
    const layout = join(root, 'corrupt-layout');
    await a.exportLayout(['busybox'], layout);
    const layer = img.manifest.layers[0]?.digest as Digest;
    const blobPath = join(layout, 'blobs', 'sha256', layer.slice(7));
    const bytes = await readFile(blobPath);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100] ?? 0) ^ 0xff;
    await writeFile(blobPath, bytes);
    const b = await fresh();
    await assert.rejects(b.import(layout), isImageError('DigestMismatch'));
    assert.equal(await b.hasBlob(layer), false, 'the corrupt blob is not kept');
    assert.equal(await b.get('busybox'), undefined);
    assert.deepEqual(await readdir(join(b.dir, 'ingest')), [], 'no temporary file left');

    const wrong = join(root, 'wrong-diffid.tar');
    await writeDockerSave(wrong, [bbLayer], {
      repoTags: ['wrong:1'],
      diffIds: [sha256Digest('something else')],
    });
    await assert.rejects(b.import(wrong), isImageError('DigestMismatch'));
    assert.equal(await b.get('wrong:1'), undefined);

    // A stored blob that rots on disk is caught when read.
    const c = await fresh();
    const info = await c.blobs.putBytes(Buffer.from('{"a":1}'));
    await writeFile(c.blobs.path(info.digest), '{"a":2}');
    await assert.rejects(c.blobs.readBytes(info.digest), isImageError('DigestMismatch'));
    // And a write with the wrong expected digest never lands.
    await assert.rejects(
      c.blobs.putBytes(Buffer.from('abc'), { digest: sha256Digest('abd') }),
      isImageError('DigestMismatch'),
    );
    assert.equal(await c.hasBlob(sha256Digest('abc')), false);
  });

  test('readBlob streams from an offset; getManifest returns the bytes a server hands out', async () => {
    const s = await fresh();
    const img = await createBuiltinImage(s, 'busybox');
    const m = await s.getManifest('busybox');
    assert.ok(m);
    assert.equal(m.digest, img.digest);
    assert.equal(sha256Digest(m.bytes), img.digest);
    assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    const layer = img.manifest.layers[0];
    assert.ok(layer);
    const whole = await collect(await s.readBlob(layer.digest));
    const tail = await collect(await s.readBlob(layer.digest, 1000));
    assert.equal(whole.length, layer.size);
    assert.deepEqual(tail, whole.subarray(1000));
    assert.equal(await s.blobSize(layer.digest), layer.size);
    await assert.rejects(s.readBlob(sha256Digest('missing')), NotFoundError);
  });

  test('tar: long names, long link targets and large ids survive a write/read round trip', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(130)}`;
    const tar = await collect(
      writeTar([
        { header: { path: long, type: 'file', uid: 70000000, gid: 5 }, body: Buffer.from('x') },
        { header: { path: 'link', type: 'symlink', linkpath: `/${'t'.repeat(200)}` } },
        { header: { path: 'ünïcode.txt', type: 'file' }, body: Buffer.from('u') },
      ]),
    );
    const seen: { path: string; linkpath: string; uid: number; body: string }[] = [];
    for await (const e of readTar([tar])) {
      seen.push({
        path: e.header.path,
        linkpath: e.header.linkpath,
        uid: e.header.uid,
        body: (await e.bytes()).toString(),
      });
    }
    assert.deepEqual(seen, [
      { path: long, linkpath: '', uid: 70000000, body: 'x' },
      { path: 'link', linkpath: `/${'t'.repeat(200)}`, uid: 0, body: '' },
      { path: 'ünïcode.txt', linkpath: '', uid: 0, body: 'u' },
    ]);
    // A damaged header is refused.
    const bad = Buffer.from(tar);
    bad[10] = 0x41;
    await assert.rejects(
      collect(
        (async function* () {
          for await (const e of readTar([bad])) yield Buffer.from(e.header.path);
        })(),
      ),
      isImageError('InvalidImage'),
    );
  });
});
