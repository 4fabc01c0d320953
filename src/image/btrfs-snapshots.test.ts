/**
 * A store on btrfs (a loop file made here) gives tasks snapshots of the flattened image instead of
 * overlays: what a task sees is what the overlay shows (whiteouts, opaque directories, a later layer
 * bringing a name back), a task's writes stay in its snapshot, release deletes it, and garbage
 * collection deletes the flattened image with its top layer. Needs root and btrfs-progs; fails
 * with the reason elsewhere unless DABBA_SKIP_OCI=1. The loop device and mount go even on failure.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isSubvolume } from './btrfs-snapshots.ts';
import { ImageStore, isMountPoint, mountPoints } from './index.ts';
import { busyboxLayer, dir, file, tarOf, writeDockerSave } from './test-fixtures.ts';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && process.env['DABBA_SKIP_OCI'] === '1' ? 'needs root (DABBA_SKIP_OCI=1)' : false;

function sh(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8' });
}

describe('root filesystems as btrfs snapshots', { skip }, () => {
  let root = '';
  let mnt = '';
  let loop = '';
  let store: ImageStore;
  before(async () => {
    assert.ok(isRoot, 'these tests need root (loop device, btrfs); set DABBA_SKIP_OCI=1 to skip');
    root = await mkdtemp(join(tmpdir(), 'dabba-btrfs-store-'));
    const img = join(root, 'fs.img');
    await writeFile(img, '');
    await truncate(img, 384 * 1024 * 1024);
    sh('mkfs.btrfs', ['-q', img]);
    loop = sh('losetup', ['--find', '--show', img]).trim();
    mnt = join(root, 'mnt');
    await mkdir(mnt);
    sh('mount', [loop, mnt]);
    store = await ImageStore.open(join(mnt, 'store'));
  });
  after(async () => {
    try {
      if (mnt !== '' && (await isMountPoint(mnt))) execFileSync('umount', ['-l', mnt]);
    } finally {
      if (loop !== '') execFileSync('losetup', ['-d', loop]);
      if (root !== '') {
        assert.deepEqual(
          (await mountPoints()).filter((m) => m.startsWith(`${root}/`)),
          [],
          'no mount is left',
        );
        await rm(root, { recursive: true, force: true });
      }
    }
  });

  test('a snapshot shows what the overlay would; writes stay in it; release and GC delete', async () => {
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
    const bb = await busyboxLayer();
    for (const [name, layers] of [
      ['wh2', [bb, l1, l2]],
      ['wh3', [bb, l1, l2, l3]],
    ] as const) {
      const path = join(root, `${name}.tar`);
      await writeDockerSave(path, [...layers], { repoTags: [`${name}:latest`] });
      await store.import(path);
    }
    assert.equal(await store.snapshotsUsable(), true);
    const t2 = join(mnt, 'task-wh2');
    const t3 = join(mnt, 'task-wh3');
    await mkdir(t2);
    await mkdir(t3);
    const m2 = await store.prepareRootfs(await store.require('wh2'), t2);
    assert.equal(m2.kind, 'btrfs');
    assert.equal(await isSubvolume(m2.rootfs), true);
    assert.equal(await isMountPoint(m2.rootfs), false, 'no overlay');
    assert.deepEqual((await readdir(join(m2.rootfs, 'data'))).sort(), ['b', 'new']);
    assert.deepEqual(await readdir(join(m2.rootfs, 'etc')), ['only-new'], 'opaque etc hides the lower etc');
    assert.equal(await readFile(join(m2.rootfs, 'keep/x'), 'utf8'), 'x1');
    assert.ok((await stat(join(m2.rootfs, 'bin/busybox'))).isFile());
    const m3 = await store.prepareRootfs(await store.require('wh3'), t3);
    assert.equal(await readFile(join(m3.rootfs, 'data/a'), 'utf8'), 'a3');
    assert.deepEqual((await readdir(join(m3.rootfs, 'data'))).sort(), ['a', 'b', 'new']);

    // A second task of wh2 gets a snapshot of its own.
    const t2b = join(mnt, 'task-wh2b');
    await mkdir(t2b);
    const m2b = await store.prepareRootfs(await store.require('wh2'), t2b);
    await writeFile(join(m2.rootfs, 'keep/x'), 'changed');
    assert.equal(await readFile(join(m2b.rootfs, 'keep/x'), 'utf8'), 'x1');
    const flattened = (await readdir(join(mnt, 'store', 'snapshots'))).filter((n) => !n.startsWith('.'));
    assert.equal(flattened.length, 2, 'one flattened image per image');

    for (const t of [t2, t2b, t3]) {
      await store.releaseRootfs(t);
      assert.deepEqual(await readdir(t), []);
      await store.releaseRootfs(t); // idempotent
    }
    const listed = sh('btrfs', ['subvolume', 'list', mnt]);
    assert.ok(!listed.includes('task-'), listed);

    // Untagged, wh3's own top layer and its flattened image are garbage; wh2's stay.
    await store.untag('wh3:latest');
    await store.collectGarbage({ graceMs: 0 });
    const left = (await readdir(join(mnt, 'store', 'snapshots'))).filter((n) => !n.startsWith('.'));
    assert.equal(left.length, 1);
    assert.equal(await isSubvolume(join(mnt, 'store', 'snapshots', left[0] ?? '')), true);
  });
});
