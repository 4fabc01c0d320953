/** A host's volumes on a real filesystem: made at a task's start, kept, set aside or deleted. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../lib/index.ts';
import type { Task } from '../model/index.ts';
import { HostVolumes, recordedSlots, volumesInUse } from './volumes.ts';

function task(job: string, slot: number, id = `${job}-aaaa${slot}`): Task {
  return {
    id,
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
      volumes: [
        { name: 'data', mount: '/data', sizeBytes: 2 ** 30 },
        { name: 'wal-log', mount: '/var/wal', sizeBytes: 2 ** 20 },
      ],
    },
  };
}

test('volumes are made at the first start, kept at the next, and reached by path or mount', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-volumes-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const v = new HostVolumes(dir, silentLogger);
  const support = await v.support();
  assert.ok(support.kind === 'directory' || support.kind === 'btrfs-subvolume', support.summary);
  const a = task('db', 0);
  const host = await v.prepare(a, false);
  assert.ok(host);
  const data = join(dir, 'volumes', 'db', '0', 'data');
  assert.deepEqual(host.env, {
    DABBA_VOLUME_DATA: data,
    DABBA_VOLUME_WAL_LOG: join(dir, 'volumes', 'db', '0', 'wal-log'),
  });
  assert.deepEqual(host.binds[0], { source: data, destination: '/data', readWrite: true });
  await writeFile(join(data, 'kept'), 'yes');
  // A later task of the same slot (an update) finds what the first wrote; a container sees the mount.
  const again = await v.prepare({ ...task('db', 0, 'db-bbbbb') }, true);
  assert.equal(again?.env['DABBA_VOLUME_DATA'], '/data');
  assert.equal(await readFile(join(data, 'kept'), 'utf8'), 'yes');
  // A task without volumes gets nothing.
  const { volumes: _none, ...plainSpec } = a.spec;
  assert.equal(await v.prepare({ ...a, spec: plainSpec }, true), undefined);
});

test('collection: recorded and used slots stay; purged jobs go; slots placed elsewhere are set aside', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-volumes-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const v = new HostVolumes(dir, silentLogger);
  for (const x of [task('db', 0), task('db', 1), task('db', 2), task('ns:old', 0), task('web', 0)])
    await v.prepare(x, false);
  await writeFile(join(dir, 'volumes', 'db', '1', 'data', 'precious'), 'data');
  const keep = recordedSlots([
    { job: 'db', slot: 0, host: 'h1', names: ['data'], createdAt: 0 },
    { job: 'web', slot: 7, host: 'h1', names: ['data'], createdAt: 0 },
  ]);
  // db and web still have records (db's slot 1 now lives on another host); ns:old was purged.
  // web's slot 0 has no record here but a task here uses it: it stays.
  const r = await v.collect(keep, new Set(['db', 'web']), () => volumesInUse([task('web', 0)]));
  assert.deepEqual(r.removed, [join(dir, 'volumes', 'ns:old', '0')]);
  assert.equal(r.abandoned.length, 2);
  assert.deepEqual((await readdir(join(dir, 'volumes', 'db'))).sort(), ['0']);
  assert.deepEqual((await readdir(join(dir, 'volumes'))).sort(), ['.abandoned', 'db', 'web']);
  const aside = (await readdir(join(dir, 'volumes', '.abandoned', 'db'))).sort();
  assert.equal(aside.length, 2);
  assert.match(aside[0] ?? '', /^1\.\d+$/);
  assert.equal(
    await readFile(join(dir, 'volumes', '.abandoned', 'db', aside[0] ?? '', 'data', 'precious'), 'utf8'),
    'data',
    'set aside, not deleted',
  );
  // db is purged: its volumes go, and what was set aside with them.
  const purged = await v.collect(new Map(), new Set(['web']), () => volumesInUse([task('web', 0)]));
  assert.deepEqual(purged.removed.sort(), [
    join(dir, 'volumes', '.abandoned', 'db'),
    join(dir, 'volumes', 'db', '0'),
  ]);
  await assert.rejects(stat(join(dir, 'volumes', 'db')));
  assert.ok((await stat(join(dir, 'volumes', 'web', '0', 'data'))).isDirectory());
});

test('a task placed with fresh volumes on a host that still has its slot from before starts empty', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-volumes-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const v = new HostVolumes(dir, silentLogger);
  const data = join(dir, 'volumes', 'db', '0', 'data');
  // Slot 0 ran here, then left for another host (maintenance); collection has not run since.
  await v.prepare(task('db', 0), false);
  await writeFile(join(data, 'stale'), 'old');
  const fresh: Task = { ...task('db', 0, 'db-fresh'), freshVolumes: 'fresh volumes on h1: host h2 is down' };
  await v.prepare(fresh, false);
  assert.deepEqual(await readdir(data), [], 'the fresh task starts empty');
  const aside = await readdir(join(dir, 'volumes', '.abandoned', 'db'));
  assert.equal(aside.length, 1);
  assert.equal(
    await readFile(join(dir, 'volumes', '.abandoned', 'db', aside[0] ?? '', 'data', 'stale'), 'utf8'),
    'old',
    'set aside, not deleted',
  );
  // Its own restart in place, and a later task of the slot (an update), keep what it wrote.
  await writeFile(join(data, 'mine'), 'new');
  await v.prepare(fresh, false);
  await v.prepare(task('db', 0, 'db-next'), false);
  assert.deepEqual(await readdir(data), ['mine']);
  assert.equal((await readdir(join(dir, 'volumes', '.abandoned', 'db'))).length, 1);
});
