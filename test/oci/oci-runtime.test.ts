/**
 * What the oci runtime promises beyond the contract: real isolation (namespaces, capabilities,
 * seccomp, masked paths), cgroup limits that hold (memory with OOM reporting, pids, CPU quota),
 * per-task addresses, recovery by a new instance, and nothing left behind after removal or a
 * failed start. Runs as root with runc; fails (not skips) elsewhere unless DABBA_SKIP_OCI=1.
 */
import assert from 'node:assert/strict';
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { RuntimeError } from '../../src/errors/index.ts';
import { sleep } from '../../src/lib/index.ts';
import type { TaskSpec } from '../../src/model/index.ts';
import { memoryLimit, type OciRuntime } from '../../src/runtime/oci/index.ts';
import type { LogLine, TaskHandle } from '../../src/runtime/runtime.ts';
import {
  MiB,
  busyboxSpec,
  ociAvailable,
  ociFixture,
  removeTestImages,
  reportUnavailable,
  taskId,
  type OciFixture,
} from './oci-fixture.ts';

const LOOP = 'while true; do sleep 0.1; done';

/** Idle CPU time of the whole machine so far, in seconds (/proc/stat, USER_HZ = 100). */
async function idleCpuSeconds(): Promise<number> {
  const f = ((await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '').trim().split(/\s+/);
  return (Number(f[4] ?? 0) + Number(f[5] ?? 0)) / 100;
}

async function start(t: TestContext, rt: OciRuntime, spec: TaskSpec, id = taskId()): Promise<TaskHandle> {
  t.after(async () => {
    await rt.stop(id, 0);
    await rt.remove(id);
  });
  return rt.start({ taskId: id, job: 'oci-test', version: 1, spec, env: { DABBA_TASK_ID: id } });
}

async function lines(rt: OciRuntime, id: string): Promise<string[]> {
  const out: string[] = [];
  for await (const l of rt.logs(id)) out.push(l.text);
  return out;
}

async function waitForLine(
  rt: OciRuntime,
  id: string,
  text: string | RegExp,
  timeoutMs = 5000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await lines(rt, id)).find((l) => (typeof text === 'string' ? l === text : text.test(l)));
    if (found !== undefined) return found;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${String(text)} in the logs of ${id}`);
    await sleep(25);
  }
}

async function httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      assert.fail(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await sleep(50);
  }
}

const available = await ociAvailable('runc');
if (!available.run) reportUnavailable(available.reason);
else {
  describe('OciRuntime (runc)', { timeout: 60_000 }, () => {
    let fx: OciFixture;
    before(async () => {
      fx = await ociFixture();
    });
    after(async () => {
      await fx.cleanup();
      await removeTestImages();
    });

    test('pid, mount, uts, ipc and net namespaces differ from the host; hostname is the task id', async (t) => {
      const rt = fx.runtime;
      const h = await start(t, rt, busyboxSpec(['sh', '-c', `echo ready; ${LOOP}`]));
      await waitForLine(rt, h.taskId, 'ready');
      for (const ns of ['pid', 'mnt', 'uts', 'ipc', 'net']) {
        const mine = await readlink(`/proc/self/ns/${ns}`);
        const its = await readlink(`/proc/${h.pid}/ns/${ns}`);
        assert.notEqual(its, mine, `${ns} namespace is the host's`);
      }
      const r = await rt.exec(
        h.taskId,
        ['sh', '-c', 'hostname; echo pid=$$; cat /proc/1/cmdline | tr "\\0" " "'],
        5000,
      );
      assert.equal(r.exitCode, 0, r.output);
      const [hostname, , cmdline] = r.output.trim().split('\n');
      assert.equal(hostname, h.taskId);
      assert.match(
        cmdline ?? '',
        /^\/run\/dabba-init -- sh -c echo ready/,
        "the init is pid 1 of the task's pid namespace, running the task's command",
      );
    });

    test('confinement: Docker default capabilities, no_new_privs, seccomp, masked and read-only paths', async (t) => {
      const rt = fx.runtime;
      const h = await start(t, rt, busyboxSpec(['sh', '-c', LOOP]));
      const status = await rt.exec(h.taskId, ['cat', '/proc/self/status'], 5000);
      const field = (name: string): string =>
        new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status.output)?.[1] ?? '';
      // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
      // SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
      assert.equal(field('CapEff'), '00000000a80425fb');
      assert.equal(field('CapBnd'), '00000000a80425fb');
      assert.equal(field('NoNewPrivs'), '1');
      assert.equal(field('Seccomp'), '2');
      const unshare = await rt.exec(h.taskId, ['unshare', '-n', 'true'], 5000);
      assert.notEqual(unshare.exitCode, 0, 'unshare must be refused');
      const mount = await rt.exec(h.taskId, ['mount', '-t', 'tmpfs', 'x', '/mnt'], 5000);
      assert.notEqual(mount.exitCode, 0, 'mount must be refused');
      for (const masked of ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug']) {
        if (
          !(await readFile(masked).then(
            () => true,
            () => false,
          ))
        )
          continue; // not in this kernel
        const r = await rt.exec(h.taskId, ['sh', '-c', `wc -c < ${masked}`], 5000);
        assert.equal(r.output.trim(), '0', `${masked} is masked`);
      }
      const sys = await rt.exec(h.taskId, ['sh', '-c', 'echo x > /proc/sys/kernel/domainname'], 5000);
      assert.notEqual(sys.exitCode, 0, '/proc/sys is read-only');
    });

    test('the memory cgroup limit equals the request (memory+swap too); stats read the real cgroup', async (t) => {
      const rt = fx.runtime;
      const h = await start(
        t,
        rt,
        busyboxSpec(['sh', '-c', `echo ready; ${LOOP}`], {
          resources: { cpu: 0.25, memoryBytes: 48 * MiB, pids: 50 },
        }),
      );
      await waitForLine(rt, h.taskId, 'ready');
      const cg = await rt.cgroupsOf(h.taskId);
      assert.ok(cg?.memory, 'memory cgroup found via /proc/PID/cgroup');
      assert.equal(await memoryLimit(cg), 48 * MiB);
      const procs = await readFile(join(cg.memory, 'cgroup.procs'), 'utf8');
      assert.ok(procs.split('\n').includes(String(h.pid)), 'the task pid is in that cgroup');
      if (cg.version === 1) {
        const memsw = await readFile(join(cg.memory, 'memory.memsw.limit_in_bytes'), 'utf8').catch(
          () => undefined,
        );
        if (memsw !== undefined) assert.equal(Number(memsw), 48 * MiB, 'no swap beyond the limit');
        assert.equal(Number(await readFile(join(cg.cpu ?? '', 'cpu.cfs_quota_us'), 'utf8')), 25_000);
        assert.equal(Number(await readFile(join(cg.cpu ?? '', 'cpu.shares'), 'utf8')), 256);
        const pids = await readFile(join(cg.pids ?? '', 'pids.max'), 'utf8');
        assert.equal(pids.trim(), '50');
      } else {
        assert.equal((await readFile(join(cg.memory, 'memory.swap.max'), 'utf8')).trim(), '0');
        assert.equal((await readFile(join(cg.memory, 'cpu.max'), 'utf8')).trim(), '25000 100000');
        assert.equal((await readFile(join(cg.memory, 'pids.max'), 'utf8')).trim(), '50');
      }
      const usage = await rt.stats(h.taskId);
      assert.ok(
        usage && usage.memoryBytes > 0 && usage.memoryBytes < 48 * MiB,
        `usage ${JSON.stringify(usage)}`,
      );
    });

    test('a task allocating past its memory limit is OOM-killed and reported as OOMKilled (137)', async (t) => {
      const rt = fx.runtime;
      // tail keeps the current line in memory; /dev/zero has no newline, so it grows until killed.
      const h = await start(
        t,
        rt,
        busyboxSpec(['tail', '/dev/zero'], { resources: { cpu: 0, memoryBytes: 32 * MiB, pids: 20 } }),
      );
      const status = await rt.wait(h.taskId);
      assert.equal(status.oomKilled, true, JSON.stringify(status));
      assert.equal(status.reason, 'OOMKilled');
      assert.equal(status.exitCode, 137);
    });

    test('a pids limit stops a fork bomb', async (t) => {
      const rt = fx.runtime;
      const limit = 24;
      // Without the init: sh dies of a failed fork, and the init would reap it at once, so the count
      // would fall before it can be sampled; under `sleep` as PID 1 the dead keep their pids.
      const h = await start(
        t,
        rt,
        busyboxSpec(['sh', '-c', 'echo start; (bomb() { bomb & bomb; }; bomb) & exec sleep 1000'], {
          resources: { cpu: 0.5, memoryBytes: 128 * MiB, pids: limit },
          init: false,
        }),
      );
      await waitForLine(rt, h.taskId, 'start');
      let max = 0;
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        const u = await rt.stats(h.taskId);
        max = Math.max(max, u?.pids ?? 0);
      }
      assert.ok(max <= limit, `${max} processes, limit ${limit}`);
      assert.ok(max >= limit - 4, `the bomb did run (${max} processes)`);
      const forkErrors = (await lines(rt, h.taskId)).filter((l) => /fork|resource/i.test(l));
      assert.ok(forkErrors.length > 0, 'forks beyond the limit fail');
      const t0 = Date.now();
      await rt.stop(h.taskId, 0);
      assert.ok(Date.now() - t0 < 5000, 'the bomb is stopped at once');
    });

    test('a CPU quota of 0.5 holds a busy loop near half a core', async (t) => {
      const rt = fx.runtime;
      const h = await start(
        t,
        rt,
        busyboxSpec(['sh', '-c', 'while :; do :; done'], {
          resources: { cpu: 0.5, memoryBytes: 64 * MiB, pids: 20 },
        }),
      );
      const cg = await rt.cgroupsOf(h.taskId);
      assert.ok(cg?.cpu);
      const throttled = async (): Promise<number> =>
        Number(
          /^nr_throttled (\d+)$/m.exec(await readFile(join(cg.cpu ?? '', 'cpu.stat'), 'utf8'))?.[1] ?? NaN,
        );
      await sleep(300);
      const a = await rt.stats(h.taskId);
      const [idle0, th0] = [await idleCpuSeconds(), await throttled()];
      const t0 = process.hrtime.bigint();
      await sleep(2000);
      const b = await rt.stats(h.taskId);
      const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
      const [idle1, th1] = [await idleCpuSeconds(), await throttled()];
      assert.ok(a && b);
      const cores = (b.cpuSeconds - a.cpuSeconds) / elapsed;
      const idleCores = (idle1 - idle0) / elapsed;
      assert.ok(cores < 0.7, `used ${cores.toFixed(3)} cores, above the 0.5 quota`);
      // Throttled, unless the machine had no spare CPU to let the loop reach its quota.
      assert.ok(th1 > th0 || idleCores < 0.3, 'the quota throttled the loop');
      // Below 0.3 only when the machine had no spare CPU to give (other load on a busy CI host).
      assert.ok(
        cores > 0.3 || idleCores < 0.3,
        `used ${cores.toFixed(3)} cores while ${idleCores.toFixed(2)} cores were idle`,
      );
    });

    test('two tasks on the same declared port both answer at their own addresses', async (t) => {
      const rt = fx.runtime;
      const spec = (greeting: string): TaskSpec =>
        busyboxSpec([], {
          image: 'hello',
          env: { GREETING: greeting },
          ports: [{ name: 'http', port: 8080, protocol: 'tcp' }],
          resources: { cpu: 0.25, memoryBytes: 64 * MiB, pids: 50 },
        });
      const a = await start(t, rt, spec('hola'));
      const b = await start(t, rt, spec('salut'));
      assert.notEqual(a.address, b.address);
      assert.deepEqual(a.ports, { http: 8080 });
      assert.deepEqual(b.ports, { http: 8080 });
      const ra = await eventually('a answers', async () => httpGet(`http://${a.address}:8080/`));
      const rb = await eventually('b answers', async () => httpGet(`http://${b.address}:8080/`));
      assert.equal(ra.status, 200);
      assert.equal(ra.body.trim(), `hola from ${a.taskId}`);
      assert.equal(rb.body.trim(), `salut from ${b.taskId}`);
      // Tasks reach each other over the bridge.
      const r = await rt.exec(a.taskId, ['wget', '-q', '-O', '-', `http://${b.address}:8080/`], 5000);
      assert.equal(r.output.trim(), `salut from ${b.taskId}`);
    });

    test('a new runtime instance recovers a running task with the same pid; its logs continue', async (t) => {
      const rt1 = fx.make();
      const id = taskId('rec');
      const h = await rt1.start({
        taskId: id,
        job: 'oci-test',
        version: 1,
        spec: busyboxSpec(['sh', '-c', 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done']),
        env: {},
      });
      const quitter = taskId('quit');
      await rt1.start({
        taskId: quitter,
        job: 'oci-test',
        version: 1,
        spec: busyboxSpec(['sh', '-c', 'echo bye; sleep 0.3; exit 7']),
        env: {},
      });
      const rt2 = fx.make();
      t.after(async () => {
        for (const x of [id, quitter]) {
          await rt2.stop(x, 0);
          await rt2.remove(x);
        }
        await rt2.close();
      });
      await waitForLine(rt1, id, 'tick 2');
      await rt1.close();
      // The second task exits while no runtime instance is watching.
      await sleep(700);
      const found = await rt2.recover();
      const adopted = found.running.find((x) => x.taskId === id);
      assert.ok(adopted, 'the task is re-adopted');
      assert.equal(adopted.pid, h.pid);
      assert.equal(adopted.address, h.address);
      const quit = found.exited.find((x) => x.taskId === quitter);
      assert.deepEqual(
        quit && [quit.status.exitCode, quit.status.reason],
        [7, 'Exited'],
        'exit code from the exit dir',
      );
      assert.ok(!found.running.some((x) => x.taskId === quitter));
      const before = (await lines(rt2, id)).length;
      const ac = new AbortController();
      const seen: LogLine[] = [];
      const guard = setTimeout(() => ac.abort(), 5000);
      for await (const l of rt2.logs(id, { follow: true, tail: 1, signal: ac.signal })) {
        seen.push(l);
        if (seen.length >= 4) ac.abort();
      }
      clearTimeout(guard);
      const n = (l: LogLine | undefined): number => Number(/tick (\d+)/.exec(l?.text ?? '')?.[1] ?? 0);
      assert.ok(n(seen[seen.length - 1]) > before, 'new lines arrive through the new instance');
      assert.ok(seen.every((l) => typeof l.time === 'number' && l.stream === 'stdout'));
      const waiting = rt2.wait(id);
      await rt2.stop(id, 100);
      assert.equal((await waiting).exitCode, 143, 'SIGTERM reaches sh through the init');
    });

    test('after stop and remove nothing is left: no container, cgroups, mounts, netns, veth, files', async (t) => {
      const rt = fx.runtime;
      const h = await start(
        t,
        rt,
        busyboxSpec(['sh', '-c', `sleep 100 & ${LOOP}`], {
          resources: { cpu: 0.2, memoryBytes: 32 * MiB, pids: 10 },
        }),
      );
      assert.notDeepEqual(await fx.leftovers([h.taskId]), [], 'a running task has resources');
      await rt.stop(h.taskId, 100);
      await rt.remove(h.taskId);
      assert.deepEqual(await fx.leftovers([h.taskId]), []);
      const ipam = JSON.parse(await readFile(join(fx.stateDir, 'ipam.json'), 'utf8')) as {
        allocations: Record<string, string>;
      };
      assert.ok(!Object.values(ipam.allocations).includes(h.taskId), 'the address is released');
    });

    test('failed starts leave nothing: unknown image, missing command, memory too low to start', async () => {
      const rt = fx.runtime;
      const cases: { spec: TaskSpec; reason: string; message?: RegExp }[] = [
        { spec: busyboxSpec(['sh'], { image: 'no-such-image' }), reason: 'ImageNotFound' },
        { spec: busyboxSpec(['/bin/no-such-thing']), reason: 'CommandNotFound' },
        {
          spec: busyboxSpec(['sh', '-c', 'echo hi'], {
            resources: { cpu: 0, memoryBytes: 1 * MiB, pids: 0 },
          }),
          reason: 'StartFailed',
          message: /memory/i,
        },
      ];
      const ids: string[] = [];
      for (const c of cases) {
        const id = taskId('fail');
        ids.push(id);
        await assert.rejects(
          rt.start({ taskId: id, job: 'oci-test', version: 1, spec: c.spec, env: {} }),
          (e: unknown) => {
            assert.ok(e instanceof RuntimeError, String(e));
            assert.equal(e.details['reason'], c.reason, e.message);
            if (c.message) assert.match(e.message, c.message);
            return true;
          },
        );
      }
      assert.deepEqual(await fx.leftovers(ids), []);
      const ipam = JSON.parse(await readFile(join(fx.stateDir, 'ipam.json'), 'utf8')) as {
        allocations: Record<string, string>;
      };
      assert.deepEqual(
        Object.values(ipam.allocations).filter((o) => ids.includes(o)),
        [],
        'no address stays allocated',
      );
    });
  });
}
