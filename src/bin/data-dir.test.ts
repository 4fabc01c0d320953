/** A daemon's data directory checked at start: one clear error for each way it cannot be used. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DabbaError } from '../errors/index.ts';
import { ReadOnlyBind } from '../../test/helpers/read-only-bind.ts';
import { Tmpfs } from '../../test/helpers/tmpfs.ts';
import { prepareDataDir } from './data-dir.ts';

describe('prepareDataDir', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-data-dir-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes the directory and its parents, and leaves nothing of its check', async () => {
    const d = join(dir, 'a', 'b', 'c');
    await prepareDataDir(d);
    assert.deepEqual(await readdir(d), []);
    await prepareDataDir(d); // again: it is there
  });

  it('a file in the way: says so and how to fix it', async () => {
    await writeFile(join(dir, 'file'), 'x');
    await assert.rejects(prepareDataDir(join(dir, 'file', 'data')), (e: unknown) => {
      assert.ok(e instanceof DabbaError);
      assert.equal(e.code, 'DABBA_E_BAD_REQUEST');
      assert.match(e.message, /cannot use the data directory .*file\/data \(ENOTDIR\)/);
      assert.match(e.message, /move the file away, or use another --data-dir/);
      return true;
    });
  });

  it('a read-only file system, under the directory or above it: names where and how to fix it', async () => {
    assert.equal(process.getuid?.(), 0, 'a read-only bind mount needs root');
    const mount = join(dir, 'ro');
    await mkdir(join(mount, 'existing'), { recursive: true });
    const ro = await ReadOnlyBind.over(mount);
    try {
      // Node's recursive mkdir reports EROFS as ENOENT: the real cause is found and said.
      for (const [d, where] of [
        [join(mount, 'new', 'data'), mount],
        [join(mount, 'existing'), join(mount, 'existing')],
      ] as const) {
        await assert.rejects(
          prepareDataDir(d, { what: "the agent's directory" }),
          (e: unknown) => {
            assert.ok(e instanceof DabbaError);
            assert.equal(e.code, 'DABBA_E_STORAGE_READONLY');
            assert.equal(
              e.message,
              `cannot use the agent's directory ${d} (EROFS): ${where} is on a read-only file system; use another --data-dir on a writable file system, or remount it read-write`,
            );
            return true;
          },
          d,
        );
      }
    } finally {
      await ro.release();
    }
  });

  it('a full disk is no reason to stay down: the daemon starts degraded, as it runs on one', async () => {
    assert.equal(process.getuid?.(), 0, 'a tmpfs needs root');
    const fs = await Tmpfs.mount('1m');
    try {
      await mkdir(join(fs.dir, 'existing'));
      await fs.fill('filler');
      await prepareDataDir(join(fs.dir, 'existing'));
      assert.deepEqual(await readdir(join(fs.dir, 'existing')), []);
      await prepareDataDir(join(fs.dir, 'new')); // a directory needs no data block on tmpfs
    } finally {
      await fs.destroy();
    }
  });

  it('a directory the user may not write: names the user and how to fix it', async () => {
    assert.equal(process.getuid?.(), 0, 'this test runs a check as the user nobody: it needs root');
    const locked = join(dir, 'locked');
    await mkdir(locked);
    await chmod(dir, 0o755);
    await chmod(locked, 0o755);
    const script = `
      const { prepareDataDir } = await import(${JSON.stringify(new URL('./data-dir.ts', import.meta.url).href)});
      try { await prepareDataDir(${JSON.stringify(join(locked, 'data'))}); console.log('made it'); }
      catch (e) { console.log(e.code + ' ' + e.message); }`;
    const r = spawnSync(
      'setpriv',
      [
        '--reuid=nobody',
        '--regid=nogroup',
        '--clear-groups',
        process.execPath,
        '--input-type=module',
        '-e',
        script,
      ],
      { encoding: 'utf8', cwd: '/', env: { PATH: process.env['PATH'] ?? '' } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stdout.trim(),
      `DABBA_E_BAD_REQUEST cannot use the data directory ${join(locked, 'data')} (EACCES): no permission to write in ${locked} (running as uid 65534); use another --data-dir in a directory this user owns, or give this user write access there`,
    );
  });
});
