/**
 * `dabba dev` on a small tmpfs (the report): below the watermark new job versions and
 * new images are refused with 507 DABBA_E_STORAGE_FULL; on a full disk new job versions too;
 * meanwhile health says degraded and why, status and logs answer, the running task runs on, and the process stays up. Enlarging the
 * tmpfs brings writes back without a restart; every acknowledged job is there, no refused one is.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DevCluster, isAlive, waitFor } from '../helpers/dev-cluster.ts';
import { startDevOnTmpfs, stopDevOnTmpfs, type Health } from '../helpers/dev-on-tmpfs.ts';
import type { Tmpfs } from '../helpers/tmpfs.ts';
import { diskSpace } from '../../src/lib/index.ts';
import { file, tarOf } from '../../src/image/test-fixtures.ts';

let c: DevCluster | undefined;
let fs: Tmpfs | undefined;

before(async () => {
  ({ c, fs } = await startDevOnTmpfs('8m', ['--min-free', '2Mi', '--min-free-percent', '0']));
});
after(async () => {
  await stopDevOnTmpfs(c, fs);
});

function job(name: string, command = ['sleep', '1000']): unknown {
  return { name, replicas: 1, task: { command } };
}

test(
  'a full data dir: writes refused with 507, reads and tasks go on, writes resume by themselves',
  { timeout: 120_000 },
  async () => {
    const cl = c!;
    const tmp = fs!;
    const put = (name: string, command?: string[]) => cl.api('PUT', `/v1/jobs/${name}`, job(name, command));
    assert.equal((await put('web', ['sh', '-c', 'while :; do echo tick; sleep 0.2; done'])).status, 200);
    const acknowledged = ['web'];
    for (const name of ['a1', 'a2', 'a3']) {
      assert.equal((await put(name)).status, 200);
      acknowledged.push(name);
    }
    const running = await waitFor('web running', async () => {
      const r = await cl.api('GET', '/v1/jobs/web/tasks');
      const t = (r.body as { state: string; healthy: boolean; pid?: number; id: string }[])[0];
      return t?.state === 'running' && t.healthy && t.pid !== undefined ? t : undefined;
    });

    // Below the watermark: new job versions refused, the rest works.
    const free = (await diskSpace(tmp.dir))!.freeBytes;
    await tmp.fill('filler-1', free - 1024 * 1024);
    await waitFor('degraded (watermark)', async () => {
      const h = (await cl.api('GET', '/v1/health')).body as Health;
      return h.status === 'degraded' && h.reasons.some((r) => /below the watermark/.test(r)) ? h : undefined;
    });
    const low = await put('refused-low');
    assert.equal(low.status, 507);
    assert.equal((low.body as { code: string }).code, 'DABBA_E_STORAGE_FULL');
    assert.match((low.body as { message: string }).message, /below the watermark/);
    // New images too (an image upload: a tar of one file).
    const image = await cl.api(
      'POST',
      '/v1/images/create?name=refused-image',
      await tarOf([file('hello.txt', 'hello\n')]),
      {
        'content-type': 'application/x-tar',
      },
    );
    assert.equal(image.status, 507);
    assert.equal((image.body as { code: string }).code, 'DABBA_E_STORAGE_FULL');
    assert.match(
      (image.body as { message: string }).message,
      /new images are refused: free space .* is below the watermark/,
    );

    // The agent (same data dir) reports DiskPressure with its heartbeats; `dabba hosts` shows it.
    await waitFor('the host reports DiskPressure', async () => {
      const r = await cl.cli(['hosts']);
      return /CONDITIONS/.test(r.stdout) && /DiskPressure/.test(r.stdout) ? true : undefined;
    });

    // Truly full.
    await tmp.fill('filler-2');
    const h = await waitFor('degraded (full)', async () => {
      const h = (await cl.api('GET', '/v1/health')).body as Health;
      return h.reasons.some((r) => /no space left/.test(r)) ? h : undefined;
    });
    assert.equal(h.status, 'degraded');
    const full = await put('refused-full');
    assert.equal(full.status, 507);
    assert.equal((full.body as { code: string }).code, 'DABBA_E_STORAGE_FULL');
    assert.match((full.body as { message: string }).message, new RegExp(tmp.dir));

    const status = await cl.cli(['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /web/);
    const logs = await cl.cli(['logs', running.id]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /tick/);
    // The host's condition as recorded while there was room (recording a change needs a write).
    const hosts = await cl.cli(['hosts']);
    assert.equal(hosts.code, 0, hosts.stderr);
    assert.match(hosts.stdout, /CONDITIONS[\s\S]*Disk(Pressure|Full)/);
    // A few seconds full: the process and the task stay up, the task stays running and healthy.
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(cl.proc && cl.proc.exitCode === null, `dabba dev is up:\n${cl.log}`);
    assert.ok(isAlive(running.pid!), 'the task runs on');
    const still = (await cl.api('GET', '/v1/jobs/web/tasks')).body as { state: string; healthy: boolean }[];
    assert.equal(still[0]?.state, 'running');
    assert.equal(still[0]?.healthy, true);

    // Space returns: no restart.
    await tmp.remount('size=64m');
    await waitFor('health ok', async () => {
      const h = (await cl.api('GET', '/v1/health')).body as Health;
      return h.status === 'ok' ? h : undefined;
    });
    await waitFor('deploy accepted', async () => ((await put('after')).status === 200 ? true : undefined));
    acknowledged.push('after');
    await waitFor('after running', async () => {
      const r = await cl.api('GET', '/v1/jobs/after/tasks');
      return (r.body as { state: string }[])[0]?.state === 'running' ? true : undefined;
    });

    const jobs = ((await cl.api('GET', '/v1/jobs')).body as { job: string }[]).map((j) => j.job).sort();
    assert.deepEqual(jobs, [...acknowledged].sort(), 'every acknowledged job is there, no refused one');
    const events = (await cl.api('GET', '/v1/events?limit=1000')).body as { kind: string }[];
    const kinds = events.map((e) => e.kind);
    assert.ok(kinds.includes('StorageLow'), kinds.join(','));
    assert.ok(kinds.includes('StorageFull'), kinds.join(','));
    assert.ok(kinds.includes('StorageRecovered'), kinds.join(','));
    // Said once: one error line for the full disk, however many requests were refused.
    const log = await waitFor('log written', async () => {
      const text = await readFile(join(cl.dataDir, 'dabba.log'), 'utf8');
      return /writes are refused/.test(text) ? text : undefined;
    });
    const errors = log
      .split('\n')
      .filter(
        (l) => l.includes('"level":50') && l.includes('"part":"storage"') && l.includes('writes are refused'),
      );
    assert.equal(errors.length, 1, errors.join('\n'));
  },
);
