/**
 * Volumes on btrfs: with the agent's data dir on a btrfs filesystem (a loop file made here) each
 * volume is a subvolume, limited to its size with a qgroup when quotas are on; a write past the size
 * fails; removal deletes the subvolume. Needs root and btrfs-progs; the mount and the file are
 * removed even when the test fails.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { HostVolumes, volumesInUse } from '../../src/agent/volumes.ts';
import { silentLogger } from '../../src/lib/index.ts';
import type { Task } from '../../src/model/index.ts';

const run = promisify(execFile);

function task(job: string, slot: number, sizeBytes: number): Task {
  return {
    id: `${job}-aaaa${slot}`,
    job,
    version: 1,
    host: 'h1',
    desired: 'run',
    slot,
    createdAt: 0,
    spec: {
      command: ['sleep', '1'],
      env: {},
      resources: { cpu: 0.1, memoryBytes: 2 ** 26, pids: 16 },
      ports: [],
      health: {},
      restart: { policy: 'always', initialBackoffMs: 100, maxBackoffMs: 1000 },
      stopGracePeriodMs: 1000,
      volumes: [{ name: 'data', mount: '/data', sizeBytes }],
    },
  };
}

/** Writes up to `bytes` with fsync after each chunk; returns how many got in and the error that stopped it. */
async function fill(path: string, bytes: number): Promise<{ written: number; code?: string }> {
  const fh = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let written = 0;
  try {
    while (written < bytes) {
      const r = await fh.write(chunk);
      await fh.sync();
      written += r.bytesWritten;
    }
    return { written };
  } catch (e) {
    // libuv has no name for EDQUOT (122): node reports it by number.
    const err = e as NodeJS.ErrnoException;
    return { written, code: err.errno === -122 ? 'EDQUOT' : (err.code ?? 'unknown') };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function subvolumes(mnt: string): Promise<string[]> {
  const { stdout } = await run('btrfs', ['subvolume', 'list', '-o', mnt]);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^.* path /, ''));
}

test('on btrfs with quotas: a subvolume per volume, limited to its size, deleted on removal', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-btrfs-'));
  const image = join(dir, 'fs.img');
  const mnt = join(dir, 'mnt');
  t.after(async () => {
    await run('umount', [mnt]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  await mkdir(mnt);
  await run('truncate', ['-s', '300M', image]);
  await run('mkfs.btrfs', ['-q', image]);
  await run('mount', ['-o', 'loop', image, mnt]);
  await run('btrfs', ['quota', 'enable', mnt]);

  const v = new HostVolumes(mnt, silentLogger);
  const support = await v.support();
  assert.deepEqual([support.kind, support.quota], ['btrfs-subvolume', true], support.summary);
  const small = task('db', 0, 4 * 2 ** 20);
  const prepared = await v.prepare(small, false);
  const data = prepared?.env['DABBA_VOLUME_DATA'] ?? '';
  assert.equal(data, join(mnt, 'volumes', 'db', '0', 'data'));
  assert.deepEqual(await subvolumes(mnt), ['volumes/db/0/data']);

  // The qgroup limit holds: 4 MiB go in, 16 MiB do not.
  const r = await fill(join(data, 'big'), 16 * 2 ** 20);
  assert.equal(r.code, 'EDQUOT', `wrote ${r.written} bytes without hitting the quota`);
  assert.ok(r.written < 5 * 2 ** 20 && r.written > 2 * 2 ** 20, `wrote ${r.written} bytes`);

  // Kept at the next start; deleted (the subvolume too) once the job has no records.
  await v.prepare(small, false);
  assert.deepEqual(await subvolumes(mnt), ['volumes/db/0/data']);
  const gone = await v.collect(new Map(), new Set(), () => volumesInUse([]));
  assert.deepEqual(gone.removed, [join(mnt, 'volumes', 'db', '0')]);
  assert.deepEqual(await subvolumes(mnt), []);
});

test('on btrfs without quotas: subvolumes, and the size is said not to be enforced', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-btrfs-'));
  const image = join(dir, 'fs.img');
  const mnt = join(dir, 'mnt');
  t.after(async () => {
    await run('umount', [mnt]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  await mkdir(mnt);
  await run('truncate', ['-s', '300M', image]);
  await run('mkfs.btrfs', ['-q', image]);
  await run('mount', ['-o', 'loop', image, mnt]);
  const v = new HostVolumes(mnt, silentLogger);
  const support = await v.support();
  assert.deepEqual([support.kind, support.quota], ['btrfs-subvolume', false]);
  assert.match(support.summary, /size not enforced: quotas are off/);
  await v.prepare(task('web', 3, 2 ** 20), true);
  assert.deepEqual(await subvolumes(mnt), ['volumes/web/3/data']);
});
