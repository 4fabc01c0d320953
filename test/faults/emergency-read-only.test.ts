/**
 * The kernel's emergency read-only: a data dir on ext4 (`errors=remount-ro`) that records an error
 * while the daemons run. The mount still says `rw`, but every write fails with EROFS. The agent
 * reports the host condition DiskReadOnly with the reason (its tasks run on), and none once the
 * file system is repaired (the daemons stopped, fsck, mounted again); the server answers health `degraded` with the reason,
 * refuses writes with 507 DABBA_E_STORAGE_READONLY, serves reads, stays up, and after the repair and
 * a restart has every acknowledged write.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DevCluster, isAlive, waitFor } from '../helpers/dev-cluster.ts';
import { LoopExt4 } from '../helpers/loop-ext4.ts';
import { DABBA, ServerProc } from './server-proc.ts';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

interface HostView {
  name: string;
  conditions?: { type: string; message: string }[];
}

test(
  "an agent's data dir in emergency read-only: DiskReadOnly with the reason, tasks run on, cleared after repair",
  { timeout: 180_000 },
  async () => {
    let fs: LoopExt4 | undefined;
    const c = await DevCluster.start({
      prepare: async (dir) => {
        fs = await LoopExt4.mount(join(dir, 'agent'));
      },
    });
    cleanups.push(async () => {
      await c.kill9();
      for (const pid of await c.processes()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await fs?.destroy();
      await c.destroy();
    });
    const ext4 = fs!;
    const job = {
      name: 'web',
      replicas: 1,
      task: { command: ['sh', '-c', 'while :; do echo tick; sleep 0.5; done'] },
    };
    assert.equal((await c.api('PUT', '/v1/jobs/web', job)).status, 200);
    const running = await waitFor('web running', async () => {
      const t = ((await c.api('GET', '/v1/jobs/web/tasks')).body as { state: string; pid?: number }[])[0];
      return t?.state === 'running' && t.pid !== undefined ? t : undefined;
    });

    await ext4.syncAndFail();
    const cond = await waitFor(
      'DiskReadOnly with the reason',
      async () => {
        const hosts = (await c.api('GET', '/v1/hosts')).body as HostView[];
        return hosts[0]?.conditions?.find((x) => x.type === 'DiskReadOnly');
      },
      60_000,
    );
    assert.match(cond.message, /refuses writes \(EROFS\) though mounted read-write/);
    const shown = await c.cli(['hosts']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /DiskReadOnly/);
    assert.ok(isAlive(running.pid!), 'the task runs on');
    assert.ok(c.proc && c.proc.exitCode === null, 'dabba dev is up');

    // The operator's repair: such a file system is writable again only once unmounted, checked and
    // mounted again, which needs whatever holds files there stopped (the daemons, the task).
    await c.kill9();
    for (const pid of await c.processes()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await ext4.repair();
    await c.boot();
    await waitFor(
      'the condition cleared',
      async () => {
        const hosts = (await c.api('GET', '/v1/hosts')).body as HostView[];
        return hosts[0] && !(hosts[0].conditions ?? []).some((x) => x.type === 'DiskReadOnly')
          ? true
          : undefined;
      },
      60_000,
    );
    await waitFor('web running again', async () => {
      const t = ((await c.api('GET', '/v1/jobs/web/tasks')).body as { state: string }[])[0];
      return t?.state === 'running' ? t : undefined;
    });
  },
);

test(
  "the server's data dir in emergency read-only: degraded with the reason, 507, reads work; nothing lost",
  { timeout: 120_000 },
  async () => {
    const base = await mkdtemp(join(tmpdir(), 'dabba-emro-'));
    const dir = join(base, 'data');
    const ext4 = await LoopExt4.mount(dir);
    cleanups.push(async () => {
      await ext4.destroy();
      await rm(base, { recursive: true, force: true });
    });
    const start = async (): Promise<ServerProc> => {
      const s = await ServerProc.start([
        DABBA,
        'server',
        '--data-dir',
        dir,
        '--listen',
        '127.0.0.1:0',
        // The 64 MiB file system is below the default watermark.
        '--min-free',
        '1Mi',
        '--min-free-percent',
        '0',
      ]);
      cleanups.push(() => s.stop());
      return s;
    };
    let s = await start();
    const auth = await s.auth();
    const put = async (
      name: string,
    ): Promise<{ status: number; body: { code?: string; message?: string } }> => {
      const res = await fetch(`${s.url}/v1/jobs/${name}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ name, replicas: 1, task: { command: ['sleep', '1000'] } }),
      });
      return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
    };
    assert.equal((await put('before')).status, 200);
    // The log tables' feed of that deploy's event settles first: DuckDB aborts the process when a
    // write of its own is under way as the file system turns read-only (docs/operations.md).
    await new Promise((r) => setTimeout(r, 3000));

    await ext4.syncAndFail();
    const h = await waitFor('degraded (emergency read-only)', async () => {
      if (!s.alive) throw new Error(`the server exited:\n${s.output}`);
      const h = await s.health();
      return h.status === 'degraded' && h.reasons.some((r) => r.includes(`${dir} refuses writes (EROFS)`))
        ? h
        : undefined;
    });
    assert.equal(h.status, 'degraded');
    const refused = await put('refused');
    assert.equal(refused.status, 507, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'DABBA_E_STORAGE_READONLY');
    const jobs = await fetch(`${s.url}/v1/jobs`, { headers: auth });
    assert.equal(jobs.status, 200, 'reads work');
    assert.match(await jobs.text(), /"before"/);
    await new Promise((r) => setTimeout(r, 2000));
    assert.ok(s.alive, s.output);

    // The operator's repair: stop, fsck, mount again, start. Every acknowledged write is there.
    await s.stop();
    await ext4.repair();
    s = await start();
    await waitFor('health ok', async () => ((await s.health()).status === 'ok' ? true : undefined));
    const after = await put('after');
    assert.equal(after.status, 200, JSON.stringify(after.body));
    const names = ((await (await fetch(`${s.url}/v1/jobs`, { headers: auth })).json()) as { job: string }[])
      .map((j) => j.job)
      .sort();
    assert.deepEqual(names, ['after', 'before']);
  },
);
