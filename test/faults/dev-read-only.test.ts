/**
 * `dabba dev` (the server and an agent in one real process) whose data directory turns read-only
 * while it runs (a read-only bind mount put over it: see test/helpers/read-only-bind.ts): the
 * process stays up; health says degraded and why; new job versions are refused with 507
 * DABBA_E_STORAGE_READONLY; status, logs and hosts answer; the host shows DiskReadOnly; the running
 * task runs on and stays healthy. Once the directory is writable again everything resumes by
 * itself: health ok, the condition cleared, the next deploy runs; every acknowledged job is there,
 * the refused one is not. A dev whose agent directory is read-only from the start says why and
 * exits 1 instead of hanging with its server up.
 */
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DevCluster, isAlive, waitFor } from '../helpers/dev-cluster.ts';
import type { Health } from '../helpers/dev-on-tmpfs.ts';
import { ReadOnlyBind } from '../helpers/read-only-bind.ts';

let c: DevCluster | undefined;
let ro: ReadOnlyBind | undefined;

before(async () => {
  c = await DevCluster.start();
});
after(async () => {
  await ro?.release();
  await c?.destroy();
});

function job(name: string, command = ['sleep', '1000']): unknown {
  return { name, replicas: 1, task: { command } };
}

test(
  'a read-only data dir: the process stays up, reads work, writes are refused clearly, it recovers',
  { timeout: 180_000 },
  async () => {
    const cl = c!;
    const put = (name: string, command?: string[]) => cl.api('PUT', `/v1/jobs/${name}`, job(name, command));
    const chatty = ['sh', '-c', 'while echo tick; do sleep 0.2; done; exit 3'];
    assert.equal((await put('web', chatty)).status, 200);
    assert.equal((await put('a1')).status, 200);
    const acknowledged = ['web', 'a1'];
    const running = await waitFor('web running', async () => {
      const r = await cl.api('GET', '/v1/jobs/web/tasks');
      const t = (r.body as { state: string; healthy: boolean; pid?: number; id: string }[])[0];
      return t?.state === 'running' && t.healthy && t.pid !== undefined ? t : undefined;
    });

    ro = await ReadOnlyBind.over(cl.dataDir);
    const h = await waitFor('degraded (read-only)', async () => {
      const h = (await cl.api('GET', '/v1/health')).body as Health;
      return h.status === 'degraded' && h.reasons.some((r) => /read-only/.test(r)) ? h : undefined;
    });
    assert.ok(
      h.reasons.some((r) => r.includes(cl.dataDir)),
      h.reasons.join('; '),
    );
    const refused = await put('refused');
    assert.equal(refused.status, 507);
    assert.equal((refused.body as { code: string }).code, 'DABBA_E_STORAGE_READONLY');
    assert.match((refused.body as { message: string }).message, /read-only file system/);

    // Reads work; the agent's host reports the condition.
    const status = await cl.cli(['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /web/);
    const logs = await cl.cli(['logs', running.id, '--tail', '2']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /tick/);
    await waitFor('the host shows DiskReadOnly', async () => {
      const r = await cl.cli(['hosts']);
      return /CONDITIONS/.test(r.stdout) && /DiskReadOnly/.test(r.stdout) ? true : undefined;
    });
    // A while read-only: the process and the task stay up, the task running and healthy.
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(cl.proc && cl.proc.exitCode === null, `dabba dev is up:\n${cl.log}`);
    assert.ok(isAlive(running.pid!), 'the task runs on');
    const still = (await cl.api('GET', '/v1/jobs/web/tasks')).body as { state: string; healthy: boolean }[];
    assert.equal(still[0]?.state, 'running');
    assert.equal(still[0]?.healthy, true);

    // Writable again: no restart.
    await ro.release();
    await waitFor('health ok', async () => {
      const h = (await cl.api('GET', '/v1/health')).body as Health;
      return h.status === 'ok' ? h : undefined;
    });
    await waitFor('the condition cleared', async () => {
      const r = await cl.cli(['hosts']);
      return r.code === 0 && !/DiskReadOnly/.test(r.stdout) ? true : undefined;
    });
    await waitFor('deploy accepted', async () => ((await put('after')).status === 200 ? true : undefined));
    acknowledged.push('after');
    await waitFor('after running', async () => {
      const r = await cl.api('GET', '/v1/jobs/after/tasks');
      return (r.body as { state: string }[])[0]?.state === 'running' ? true : undefined;
    });
    const jobs = ((await cl.api('GET', '/v1/jobs')).body as { job: string }[]).map((j) => j.job).sort();
    assert.deepEqual(
      jobs,
      [...acknowledged].sort(),
      'every acknowledged job is there, the refused one is not',
    );
    const kinds = ((await cl.api('GET', '/v1/events?limit=1000')).body as { kind: string }[]).map(
      (e) => e.kind,
    );
    assert.ok(kinds.includes('StorageReadOnly'), kinds.join(','));
    assert.ok(kinds.includes('StorageRecovered'), kinds.join(','));
    assert.ok(isAlive(running.pid!), 'the task ran through it all');
    // Nothing went unhandled on the way (the process-wide policy counts what would have).
    const faults = ((await cl.api('GET', '/v1/health')).body as { faults: Record<string, number> }).faults;
    assert.equal(faults['uncaughtExceptions'], 0, JSON.stringify(faults));
    assert.equal(faults['unhandledRejections'], 0, JSON.stringify(faults));
  },
);

test('an agent dir read-only from the start: dev says why and exits 1, nothing left running', async () => {
  let dir: string | undefined;
  let bind: ReadOnlyBind | undefined;
  try {
    await assert.rejects(
      DevCluster.start({
        prepare: async (d) => {
          dir = d;
          await mkdir(join(d, 'agent'));
          bind = await ReadOnlyBind.over(join(d, 'agent'));
        },
      }),
      // Before: the error was printed, and the server it had started kept the process up.
      (e: Error) =>
        /dabba dev exited with 1/.test(e.message) &&
        /the agent's directory .*agent \(EROFS\): .* is on a read-only file system; use another --data-dir on a writable file system, or remount it read-write/.test(
          e.message,
        ),
    );
  } finally {
    await bind?.release();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
});
