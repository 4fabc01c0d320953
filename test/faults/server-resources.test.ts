/**
 * `dabba server` in a child process against two resource faults:
 * - EMFILE: under `prlimit --nofile=64`, a burst of connections beyond the limit; the process stays
 *   up, says so once, and answers again once the burst is over.
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
