/**
 * With the image store on btrfs (a loop file made here), each task's root filesystem is a btrfs
 * snapshot of the flattened image, not an overlay: `btrfs subvolume list -s` shows one per task,
 * tasks do not see each other's writes, and after stop and remove no subvolume of a task is left
 * (the flattened image stays, for the next task). Runs as root with crun and btrfs-progs; fails (not
 * skips) elsewhere unless DABBA_SKIP_OCI=1. The loop device and its mount are removed even on failure.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageStore, createBuiltinImage, mountPoints } from '../../src/image/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { OciRuntime } from '../../src/runtime/oci/index.ts';
import { runTool } from '../../src/runtime/oci/tool.ts';
import {
  busyboxSpec,
  freeNetwork,
  ociAvailable,
  removeDir,
  reportUnavailable,
  taskId,
} from './oci-fixture.ts';

async function must(file: string, args: string[]): Promise<string> {
  const r = await runTool(file, args);
  assert.equal(r.code, 0, `${file} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Subvolume paths (relative to the filesystem's top) that `btrfs subvolume list [-s]` shows. */
async function subvolumes(mnt: string, snapshotsOnly = false): Promise<string[]> {
  const out = await must('btrfs', ['subvolume', 'list', ...(snapshotsOnly ? ['-s'] : []), mnt]);
  return out
    .split('\n')
    .map((l) => / path (\S+)$/.exec(l.trim())?.[1])
    .filter((p): p is string => p !== undefined);
}

const available = await ociAvailable('crun');
if (!available.run) reportUnavailable(available.reason);
else {
  describe('task root filesystems as btrfs snapshots', () => {
    let dir = '';
    let mnt = '';
    let loop = '';
    let runtime: OciRuntime | undefined;
    let stateDir = '';
    const ids: string[] = [];

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'dabba-btrfs-'));
      const file = join(dir, 'fs.img');
      await writeFile(file, '');
      await truncate(file, 512 * 1024 * 1024);
      await must('mkfs.btrfs', ['-q', file]);
      loop = (await must('losetup', ['--find', '--show', file])).trim();
      mnt = join(dir, 'mnt');
      await mkdir(mnt);
      await must('mount', [loop, mnt]);
      const images = await ImageStore.open(join(mnt, 'images'));
      await createBuiltinImage(images, 'busybox');
      stateDir = join(mnt, 'state');
      runtime = new OciRuntime({
        stateDir,
        images,
        network: await freeNetwork(),
        logger: silentLogger,
        ociRuntime: 'crun',
      });
    });

    after(async () => {
      try {
        if (runtime) {
          for (const id of ids) await runtime.remove(id).catch(() => undefined);
          await (await runtime.network()).destroyBridge();
          await runtime.close();
        }
      } finally {
        if (mnt !== '' && (await mountPoints()).includes(mnt)) await runTool('umount', ['-l', mnt]);
        if (loop !== '') await runTool('losetup', ['-d', loop]);
        if (dir !== '') await removeDir(dir);
      }
    });

    test('tasks start from snapshots of the flattened image, each its own', async () => {
      const rt = runtime as OciRuntime;
      const a = taskId('bt');
      const b = taskId('bt');
      for (const id of [a, b]) {
        ids.push(id);
        await rt.start({ taskId: id, job: 'bt', version: 1, spec: busyboxSpec(['sleep', '600']), env: {} });
      }
      const snapshots = await subvolumes(mnt, true);
      for (const id of [a, b])
        assert.ok(snapshots.includes(`state/tasks/${id}/rootfs`), snapshots.join(', '));
      const all = await subvolumes(mnt);
      assert.equal(all.filter((p) => p.startsWith('images/snapshots/')).length, 1, all.join(', '));
      const mounts = await mountPoints();
      assert.ok(!mounts.some((m) => m.startsWith(join(stateDir, 'tasks'))), 'no overlay mount for a task');
      // Each snapshot is the task's own: a write in one is not seen in the other.
      const w = await rt.exec(a, ['sh', '-c', 'echo mine > /etc/only-a && cat /etc/only-a'], 10_000);
      assert.equal(w.output.trim(), 'mine');
      const r = await rt.exec(b, ['sh', '-c', 'test -e /etc/only-a && echo seen || echo absent'], 10_000);
      assert.equal(r.output.trim(), 'absent');
      const ls = await rt.exec(b, ['ls', '/bin/busybox'], 10_000);
      assert.equal(ls.exitCode, 0, ls.output);
    });

    test('nothing of the tasks is left after stop and remove', async () => {
      const rt = runtime as OciRuntime;
      for (const id of ids.splice(0)) {
        await rt.stop(id, 0);
        await rt.remove(id);
      }
      const all = await subvolumes(mnt);
      assert.deepEqual(
        all.filter((p) => p.startsWith('state/')),
        [],
      );
      assert.equal(
        all.filter((p) => p.startsWith('images/snapshots/')).length,
        1,
        'the flattened image stays',
      );
      assert.deepEqual(
        (await mountPoints()).filter((m) => m.startsWith(`${mnt}/`)),
        [],
      );
    });
  });
}
