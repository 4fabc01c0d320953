/**
 * Layers unpacked once and shared, whiteouts and opaque directories, and per-task overlay root
 * filesystems. Needs root (device nodes for whiteouts, overlay mounts); fails with the reason
 * elsewhere unless DABBA_SKIP_OCI=1.
 */
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageError, ImageStore, isMountPoint, mountPoints, sha256Digest } from './index.ts';
import { busyboxLayer, dir, file, tarOf, writeDockerSave } from './test-fixtures.ts';
import type { TarWriteEntry } from './tar-writer.ts';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && process.env['DABBA_SKIP_OCI'] === '1' ? 'needs root (DABBA_SKIP_OCI=1)' : false;

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

describe('image layers and root filesystems', { skip }, () => {
  let root: string;
  let store: ImageStore;
  let bb: Buffer;
  const tasks: string[] = [];
  before(async () => {
    assert.ok(
      isRoot,
      'these tests need root (whiteouts are device nodes; rootfs are overlay mounts); set DABBA_SKIP_OCI=1 to skip',
    );
    root = await mkdtemp(join(tmpdir(), 'dabba-layers-test-'));
    store = await ImageStore.open(join(root, 'store'));
    bb = await busyboxLayer();
  });
  after(async () => {
    for (const t of tasks) await store.releaseRootfs(t).catch(() => undefined);
    const left = (await mountPoints()).filter((m) => m.startsWith(`${root}/`));
    assert.deepEqual(left, [], 'no mount is left');
    await rm(root, { recursive: true, force: true });
  });

  async function image(name: string, layers: Buffer[]): Promise<void> {
    const path = join(root, `${name}.tar`);
    await writeDockerSave(path, layers, { repoTags: [`${name}:latest`] });
    await store.import(path);
  }

  test('whiteouts and opaque directories hide lower files; a later layer can bring a name back', async () => {
    const l1 = await tarOf([
      dir('data'),
      file('data/a', 'a1'),
      file('data/b', 'b1'),
      dir('data/sub'),
      file('data/sub/c', 'c1'),
      dir('keep'),
      file('keep/x', 'x1'),
      dir('etc'),
      file('etc/old', 'old'),
    ]);
    const l2 = await tarOf([
      dir('data'),
      file('data/.wh.a', ''),
      file('data/.wh.sub', ''),
      file('data/new', 'n2'),
      dir('etc'),
      file('etc/.wh..wh..opq', ''),
      file('etc/only-new', 'fresh'),
    ]);
    const l3 = await tarOf([dir('data'), file('data/a', 'a3')]);
    await image('wh2', [bb, l1, l2]);
    await image('wh3', [bb, l1, l2, l3]);

    const t2 = join(root, 'task-wh2');
    tasks.push(t2);
    const m2 = await store.prepareRootfs(await store.require('wh2'), t2);
    assert.equal(await isMountPoint(m2.rootfs), true);
    assert.deepEqual((await readdir(join(m2.rootfs, 'data'))).sort(), ['b', 'new']);
    assert.deepEqual(
      await readdir(join(m2.rootfs, 'etc')),
      ['only-new'],
      'opaque etc hides busybox /etc and etc/old',
    );
    assert.equal(await readFile(join(m2.rootfs, 'keep/x'), 'utf8'), 'x1');
    assert.ok((await stat(join(m2.rootfs, 'bin/busybox'))).isFile());

    const t3 = join(root, 'task-wh3');
    tasks.push(t3);
    const m3 = await store.prepareRootfs(await store.require('wh3'), t3);
    assert.equal(await readFile(join(m3.rootfs, 'data/a'), 'utf8'), 'a3');
    assert.deepEqual((await readdir(join(m3.rootfs, 'data'))).sort(), ['a', 'b', 'new']);

    // Layers are unpacked once: wh3 reuses the three directories wh2 made.
    assert.deepEqual(m3.lowers.slice(0, 3), m2.lowers);
    assert.equal((await readdir(store.layers.root)).filter((n) => /^[0-9a-f]{64}$/.test(n)).length, 4);

    // A task writes to its own upper layer only; releasing it removes that and the mount.
    await writeFile(join(m2.rootfs, 'keep/x'), 'changed');
    await rm(join(m2.rootfs, 'data/b'));
    assert.equal(await readFile(join(m3.rootfs, 'keep/x'), 'utf8'), 'x1');
    assert.equal(await exists(join(m3.rootfs, 'data/b')), true);
    await store.releaseRootfs(t2);
    assert.equal(await isMountPoint(m2.rootfs), false);
    assert.deepEqual(await readdir(t2), []);
    for (const l of m2.lowers) assert.ok(await exists(l), 'shared layers stay');
    await store.releaseRootfs(t2); // idempotent
  });

  test('layer entries escaping the root, directly or through a symlink, are refused', async () => {
    const cases: [string, TarWriteEntry[]][] = [
      ['dotdot', [file('../escape-dotdot', 'x')]],
      [
        'symlink',
        [{ header: { path: 'link', type: 'symlink', linkpath: root } }, file('link/escape-symlink', 'x')],
      ],
      [
        'hardlink',
        [
          { header: { path: 'hl', type: 'symlink', linkpath: '/etc' } },
          { header: { path: 'passwd-copy', type: 'hardlink', linkpath: 'hl/passwd' } },
        ],
      ],
    ];
    for (const [name, entries] of cases) {
      const layer = await tarOf(entries);
      await image(`evil-${name}`, [layer]);
      const task = join(root, `task-evil-${name}`);
      tasks.push(task);
      await assert.rejects(store.prepareRootfs(await store.require(`evil-${name}`), task), (e: unknown) => {
        assert.ok(e instanceof ImageError, String(e));
        assert.equal(e.reason, 'InvalidImage', e.message);
        return true;
      });
      assert.equal(await exists(join(root, '..', 'escape-dotdot')), false);
      assert.equal(await exists(join(root, 'escape-symlink')), false);
      assert.equal(await isMountPoint(join(task, 'rootfs')), false);
    }
    // Nothing half-unpacked stays under a layer name.
    const names = await readdir(store.layers.root);
    assert.ok(!names.some((n) => n.startsWith('.tmp-')), names.join(' '));
  });

  test('a layer whose content does not match its diff id is not unpacked', async () => {
    const good = await tarOf([file('f', 'good')]);
    const path = join(root, 'lying.tar');
    // The archive says the layer is `good`, but the blob stored under that diff id is another layer:
    // import verifies uncompressed layers, so forge the lie after import by swapping the blob.
    await writeDockerSave(path, [good], { repoTags: ['lying:latest'] });
    await store.import(path);
    const img = await store.require('lying');
    const blob = img.manifest.layers[0]?.digest;
    assert.ok(blob);
    await writeFile(store.blobs.path(blob), await tarOf([file('f', 'evil')]));
    await assert.rejects(store.prepareRootfs(img, join(root, 'task-lying')), (e: unknown) => {
      assert.ok(e instanceof ImageError);
      assert.equal(e.reason, 'DigestMismatch');
      return true;
    });
    assert.equal(await exists(join(store.layers.root, sha256Digest(good).slice(7))), false);
  });
});
