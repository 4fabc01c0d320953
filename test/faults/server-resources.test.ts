/**
 * `dabba server` in a child process against two resource faults:
 * - EMFILE: under `prlimit --nofile=64`, a burst of connections beyond the limit; the process stays
 *   up, says so once, and answers again once the burst is over.
 * - A data directory that turns read-only under the running server (a read-only bind mount over
 *   it): new job versions refused with 507 DABBA_E_STORAGE_READONLY, health degraded, reads work;
 *   writable again, deploys work again without a restart, nothing refused was kept.
 * - A read-only image directory (its own tmpfs, remounted ro): image uploads are refused with 507
 *   DABBA_E_STORAGE_READONLY, health says degraded, reads work; remounted rw, uploads work again.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { waitFor } from '../helpers/dev-cluster.ts';
import { ReadOnlyBind } from '../helpers/read-only-bind.ts';
import { Tmpfs } from '../helpers/tmpfs.ts';
import { DABBA, ServerProc } from './server-proc.ts';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'dabba-faults-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

test(
  'EMFILE: a burst of connections beyond the fd limit is survived; the server answers after',
  { timeout: 60_000 },
  async () => {
    const dir = await tempDir();
    const s = await ServerProc.start(
      [DABBA, 'server', '--data-dir', dir, '--listen', '127.0.0.1:0'],
      ['prlimit', '--nofile=64:64', '--'],
    );
    cleanups.push(() => s.stop());
    const [host, port] = new URL(s.url).host.split(':');
    const sockets: Socket[] = [];
    let closedByServer = 0;
    for (let i = 0; i < 200; i++) {
      const sock = connect(Number(port), host);
      sock.on('error', () => undefined);
      sock.on('close', () => {
        if (!sock.destroyed || sock.readableEnded) closedByServer++;
      });
      sock.on('end', () => closedByServer++);
      sockets.push(sock);
    }
    // libuv accepts what it cannot keep on a reserved descriptor and closes it at once.
    await waitFor(
      'connections beyond the limit closed',
      () => (closedByServer > 0 ? true : undefined),
      15_000,
    );
    assert.ok(s.alive, s.output);
    for (const sock of sockets) sock.destroy();
    await waitFor('serving again', async () => s.health().catch(() => undefined), 15_000);
    assert.ok(s.alive, s.output);
    const jobs = await fetch(`${s.url}/v1/jobs`, { headers: await s.auth() });
    assert.equal(jobs.status, 200);
  },
);

test(
  'a read-only image directory: uploads refused with a clear code, reads work, rw again works',
  { timeout: 60_000 },
  async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'images'));
    const fs = await Tmpfs.mount('16m', join(dir, 'images'));
    cleanups.push(() => fs.destroy());
    const s = await ServerProc.start([
      DABBA,
      'server',
      '--data-dir',
      dir,
      '--listen',
      '127.0.0.1:0',
      '--min-free',
      '1Mi',
      '--min-free-percent',
      '0',
    ]);
    cleanups.push(() => s.stop());
    const root = await tempDir();
    await writeFile(join(root, 'hello.txt'), 'hello\n');
    const tar = join(await tempDir(), 'root.tar');
    await promisify(execFile)('tar', ['-c', '-f', tar, '-C', root, '.']);
    const upload = async (
      name: string,
    ): Promise<{ status: number; body: { code?: string; message?: string } }> => {
      const res = await fetch(`${s.url}/v1/images/create?name=${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-tar', ...(await s.auth()) },
        body: await readFile(tar),
      });
      return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
    };
    assert.equal((await upload('one')).status, 201);

    await fs.remount('ro');
    const h = await waitFor('degraded (read-only)', async () => {
      const h = await s.health();
      return h.status === 'degraded' && h.reasons.some((r) => /read-only/.test(r)) ? h : undefined;
    });
    assert.ok(h.reasons.length > 0);
    const refused = await upload('two');
    assert.equal(refused.status, 507);
    assert.equal(refused.body.code, 'DABBA_E_STORAGE_READONLY');
    assert.match(refused.body.message ?? '', /read-only file system/);
    const list = await fetch(`${s.url}/v1/images`, { headers: await s.auth() });
    assert.equal(list.status, 200, 'reads work');
    assert.match(await list.text(), /"one/);

    await fs.remount('rw');
    await waitFor('health ok', async () => ((await s.health()).status === 'ok' ? true : undefined));
    assert.equal((await upload('two')).status, 201);
    assert.ok(s.alive);
  },
);

test(
  'a data directory that turns read-only: writes refused clearly, reads work, it recovers by itself',
  { timeout: 90_000 },
  async () => {
    const dir = await tempDir();
    const s = await ServerProc.start([DABBA, 'server', '--data-dir', dir, '--listen', '127.0.0.1:0']);
    cleanups.push(() => s.stop());
    const put = async (
      name: string,
    ): Promise<{ status: number; body: { code?: string; message?: string } }> => {
      const res = await fetch(`${s.url}/v1/jobs/${name}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...(await s.auth()) },
        body: JSON.stringify({ name, replicas: 1, task: { command: ['sleep', '1000'] } }),
      });
      return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
    };
    const auth = await s.auth(); // read before the directory turns read-only (it stays readable)
    assert.equal((await put('before')).status, 200);

    const ro = await ReadOnlyBind.over(dir);
    cleanups.push(() => ro.release());
    await waitFor('degraded (read-only)', async () => {
      const h = await s.health();
      return h.status === 'degraded' &&
        h.reasons.some((r) => r.includes(`${dir} is on a read-only file system`))
        ? h
        : undefined;
    });
    const refused = await put('refused');
    assert.equal(refused.status, 507);
    assert.equal(refused.body.code, 'DABBA_E_STORAGE_READONLY');
    assert.match(
      refused.body.message ?? '',
      /new job versions are refused: .* is on a read-only file system/,
    );
    const jobs = await fetch(`${s.url}/v1/jobs`, { headers: auth });
    assert.equal(jobs.status, 200, 'reads work');
    assert.match(await jobs.text(), /"before"/);
    assert.ok(s.alive, s.output);

    await ro.release();
    await waitFor('health ok', async () => ((await s.health()).status === 'ok' ? true : undefined));
    await waitFor('deploy accepted', async () => ((await put('after')).status === 200 ? true : undefined));
    const names = ((await (await fetch(`${s.url}/v1/jobs`, { headers: auth })).json()) as { job: string }[])
      .map((j) => j.job)
      .sort();
    assert.deepEqual(names, ['after', 'before']);
    const h = await s.health();
    assert.equal(h.faults['uncaughtExceptions'], 0, s.output);
    assert.equal(h.faults['unhandledRejections'], 0, s.output);
    assert.ok(s.alive);
  },
);
