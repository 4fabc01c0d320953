/**
 * The container init (catatonit as PID 1, task.init, on by default): SIGTERM reaches a service
 * that installed no handler for it, so it stops at once instead of at the end of its grace period,
 * and orphans are reaped instead of piling up as zombies. With `init: false` the command is PID 1
 * again, with both problems back (checked too, so the tests can tell the difference).
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { after, before, describe, test, type TestContext } from 'node:test';
import { sleep } from '../../src/lib/index.ts';
import type { TaskSpec } from '../../src/model/index.ts';
import type { TaskHandle } from '../../src/runtime/runtime.ts';
import {
  busyboxSpec,
  ociAvailable,
  ociFixture,
  removeTestImages,
  reportUnavailable,
  taskId,
  type OciFixture,
} from './oci-fixture.ts';

/** Pids of the zombie children of `ppid` (host pids, from /proc). */
async function zombieChildren(ppid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' && Number(fields[1]) === ppid) out.push(Number(name));
  }
  return out;
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.text();
    return true; // any answer (a directory without index.html is a 404)
  } catch {
    return false;
  }
}

// An inner loop leaves an orphan every 50 ms (the subshell exits before its `sleep 0`), while the
// command itself becomes `sleep 1000`, which never waits for children: orphans go to PID 1.
const ORPHANS = `sh -c 'while true; do (sleep 0 &); sleep 0.05; done' & exec sleep 1000`;

const available = await ociAvailable('runc');
if (!available.run) reportUnavailable(available.reason);
else {
  describe('container init (catatonit as PID 1)', { timeout: 60_000 }, () => {
    let fx: OciFixture;
    before(async () => {
      fx = await ociFixture();
    });
    after(async () => {
      await fx.cleanup();
      await removeTestImages();
    });

    async function start(t: TestContext, spec: TaskSpec): Promise<TaskHandle> {
      const id = taskId('init');
      t.after(async () => {
        await fx.runtime.stop(id, 0);
        await fx.runtime.remove(id);
      });
      return fx.runtime.start({ taskId: id, job: 'init-test', version: 1, spec, env: {} });
    }

    const httpd = (o: Partial<TaskSpec>): TaskSpec =>
      busyboxSpec(['httpd', '-f', '-p', '8080', '-h', '/'], {
        ports: [{ name: 'http', port: 8080, protocol: 'tcp' }],
        ...o,
      });

    async function stopTime(h: TaskHandle, graceMs: number): Promise<number> {
      const url = `http://${h.address}:8080/`;
      const deadline = Date.now() + 5000;
      while (!(await answers(url))) {
        if (Date.now() > deadline) assert.fail(`httpd never answered at ${url}`);
        await sleep(50);
      }
      const t0 = Date.now();
      await fx.runtime.stop(h.taskId, graceMs);
      return Date.now() - t0;
    }

    test('busybox httpd (no SIGTERM handler) stops at SIGTERM, well under its grace period', async (t) => {
      const h = await start(t, httpd({ stopGracePeriodMs: 5000 }));
      const took = await stopTime(h, 5000);
      assert.ok(took < 1500, `stop took ${took} ms of a 5 s grace period`);
      const status = await fx.runtime.wait(h.taskId);
      assert.equal(status.signal, 'SIGTERM', JSON.stringify(status));
    });

    test('init: false runs httpd as PID 1, where SIGTERM is ignored: it lasts the grace period', async (t) => {
      const h = await start(t, httpd({ init: false, stopGracePeriodMs: 1500 }));
      const r = await fx.runtime.exec(h.taskId, ['sh', '-c', 'tr "\\0" " " < /proc/1/cmdline'], 5000);
      assert.match(r.output, /^httpd -f/, 'the command is PID 1');
      const took = await stopTime(h, 1500);
      assert.ok(took >= 1400, `stop took ${took} ms: SIGTERM was not ignored?`);
      assert.equal((await fx.runtime.wait(h.taskId)).exitCode, 137);
    });

    test('orphans are reaped: no zombies pile up under the init', async (t) => {
      const h = await start(t, busyboxSpec(['sh', '-c', ORPHANS]));
      await sleep(2000);
      const zombies = await zombieChildren(h.pid);
      // One may be caught between its exit and the init's wait.
      assert.ok(zombies.length <= 2, `${zombies.length} zombies under the init (pid ${h.pid})`);
    });

    test('init: false: the same orphans stay zombies under a PID 1 that never waits', async (t) => {
      const h = await start(t, busyboxSpec(['sh', '-c', ORPHANS], { init: false }));
      await sleep(2000);
      const zombies = await zombieChildren(h.pid);
      assert.ok(zombies.length >= 10, `only ${zombies.length} zombies: were they reaped anyway?`);
    });
  });
}
