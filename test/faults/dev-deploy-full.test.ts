/**
 * The report, replayed: `dabba dev` on a small tmpfs (watermark off), filled by deploying
 * until a deploy is refused with 507 DABBA_E_STORAGE_FULL. Then health says degraded, status and
 * logs answer, the running task runs on and the process stays up; enlarging the tmpfs (remount)
 * brings deploys back without a restart; every acknowledged job is there with its content, and the
 * refused one left nothing behind.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DevCluster, isAlive, waitFor } from '../helpers/dev-cluster.ts';
import { startDevOnTmpfs, stopDevOnTmpfs, type Health } from '../helpers/dev-on-tmpfs.ts';
import type { Tmpfs } from '../helpers/tmpfs.ts';

let c: DevCluster | undefined;
let fs: Tmpfs | undefined;

before(async () => {
  // No watermark: the deploys themselves fill the disk to the last byte.
  ({ c, fs } = await startDevOnTmpfs('16m', ['--min-free', '0', '--min-free-percent', '0']));
});
after(async () => {
  await stopDevOnTmpfs(c, fs);
});

/** A job of about 200 KB (its environment), with no replicas: it fills the store, not the host. */
function bigJob(name: string): { name: string; replicas: number; task: unknown } {
  const env: Record<string, string> = {};
  for (let i = 0; i < 4; i++) env[`PAD_${i}`] = `${name}-${i}-`.padEnd(50_000, 'x');
  return { name, replicas: 0, task: { command: ['sleep', '1000'], env } };
}

test(
  'deploys fill the data dir: the failing one gets 507, reads and tasks go on, deploys resume after a remount',
  { timeout: 180_000 },
  async () => {
    const cl = c!;
    const tmp = fs!;
    const web = {
      name: 'web',
      replicas: 1,
      task: { command: ['sh', '-c', 'while :; do echo tick; sleep 0.5; done'] },
    };
    assert.equal((await cl.api('PUT', '/v1/jobs/web', web)).status, 200);
    const running = await waitFor('web running', async () => {
      const r = await cl.api('GET', '/v1/jobs/web/tasks');
      const t = (r.body as { state: string; healthy: boolean; pid?: number; id: string }[])[0];
      return t?.state === 'running' && t.healthy && t.pid !== undefined ? t : undefined;
    });

    const acknowledged = ['web'];
    let refused: { name: string; status: number; body: { code?: string; message?: string } } | undefined;
    // 16 MB at ~200 KB a job: bounded well below 200 deploys.
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const name = `fill-${String(i).padStart(3, '0')}`;
      const r = await cl.api('PUT', `/v1/jobs/${name}`, bigJob(name));
      if (r.status === 200) acknowledged.push(name);
      else refused = { name, status: r.status, body: r.body as { code?: string; message?: string } };
    }
    assert.ok(refused, 'a deploy was refused');
    assert.ok(
      acknowledged.length > 5,
      `some deploys fit first (${acknowledged.length - 1}): ${JSON.stringify(refused.body)}`,
    );
    assert.equal(refused.status, 507, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'DABBA_E_STORAGE_FULL');
    assert.match(refused.body.message ?? '', new RegExp(`no space left in ${tmp.dir}`));

    const h = await waitFor('degraded', async () => {
      const h = (await cl.api('GET', '/v1/health')).body as Health;
      return h.status === 'degraded' && h.reasons.some((r) => /no space left/.test(r)) ? h : undefined;
    });
    assert.equal(h.status, 'degraded');
    // Still refused while full (the same deploy again).
    const again = await cl.api('PUT', `/v1/jobs/${refused.name}`, bigJob(refused.name));
    assert.equal(again.status, 507);

    const status = await cl.cli(['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /web/);
    const logs = await cl.cli(['logs', running.id]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /tick/);
    // A few seconds full: the process and the task stay up, the task running and healthy.
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(cl.proc && cl.proc.exitCode === null, `dabba dev is up:\n${cl.log}`);
    assert.ok(isAlive(running.pid!), 'the task runs on');
    const still = (await cl.api('GET', '/v1/jobs/web/tasks')).body as { state: string; healthy: boolean }[];
    assert.equal(still[0]?.state, 'running');
    assert.equal(still[0]?.healthy, true);

    // Space returns: no restart; the next deploy succeeds.
    await tmp.remount('size=64m');
    await waitFor('deploy accepted', async () => {
      const r = await cl.api('PUT', '/v1/jobs/after', bigJob('after'));
      return r.status === 200 ? true : undefined;
    });
    acknowledged.push('after');
    await waitFor('health ok', async () => {
      const h = (await cl.api('GET', '/v1/health')).body as Health;
      return h.status === 'ok' ? h : undefined;
    });

    const jobs = ((await cl.api('GET', '/v1/jobs')).body as { job: string }[]).map((j) => j.job).sort();
    assert.deepEqual(jobs, [...acknowledged].sort(), 'every acknowledged job is there, the refused one not');
    const gone = await cl.api('GET', `/v1/jobs/${refused.name}`);
    assert.equal(gone.status, 404, 'the refused deploy left nothing behind');
    const events = (await cl.api('GET', '/v1/events?limit=1000')).body as { kind: string; job?: string }[];
    assert.ok(
      events.some((e) => e.kind === 'JobVersion' && e.job === 'after'),
      'an acknowledged deploy has its event',
    );
    assert.ok(!events.some((e) => e.job === refused.name), 'nor any event of the refused deploy');
    // Every acknowledged job's content is whole (its padding as sent).
    for (const name of acknowledged.filter((n) => n.startsWith('fill-'))) {
      const r = await cl.api('GET', `/v1/jobs/${name}`);
      assert.equal(r.status, 200, name);
      const text = JSON.stringify(r.body);
      for (let i = 0; i < 4; i++) assert.ok(text.includes(`${name}-${i}-`), name);
      assert.ok(text.length > 200_000, `${name} is whole (${text.length} bytes)`);
    }
    assert.ok(isAlive(running.pid!), 'the task ran throughout');
  },
);
