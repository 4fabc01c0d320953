/**
 * The contract every Runtime implementation passes. A runtime's test file calls
 * `runtimeContract(name, factory)`; the suite only relies on what runtime.ts promises. Tasks run
 * shell scripts through the fixture's `shell` prefix (["sh", "-c"] for the process runtime,
 * something like ["/bin/sh", "-c"] with a busybox image for oci).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { RuntimeError } from '../errors/index.ts';
import { shortId, sleep } from '../lib/index.ts';
import type { PortSpec, TaskSpec } from '../model/index.ts';
import type { LogLine, LogReadOptions, Runtime, TaskHandle } from './runtime.ts';

export interface RuntimeFixture {
  runtime: Runtime;
  /** Stops everything the fixture made: runtimes, state directories. */
  cleanup(): Promise<void>;
  /** A new runtime instance over the same state as `runtime`, as after an agent restart. */
  reopen(): Promise<Runtime>;
  /** Image the tasks run in, for runtimes that need one. */
  image?: string;
  /** Prefix that runs a shell script: [...shell, 'echo hi']. */
  shell: string[];
  /**
   * For a runtime without host processes (fake): sends a signal to a task's process, and says
   * whether it is gone. Real runtimes leave both out: the suite then uses the host pid
   * (`process.kill`), as an operator's `kill -9` would.
   */
  kill?(handle: TaskHandle, signal: 'SIGKILL'): void;
  gone?(handle: TaskHandle): boolean;
  /**
   * False for a runtime without interactive exec (fake): the suite then checks that asking for
   * stdin or a terminal is refused with a RuntimeError, instead of being ignored.
   */
  interactiveExec?: false;
}

const MiB = 1024 * 1024;
const LOOP = 'while true; do sleep 0.1; done';

interface SpecOptions {
  env?: Record<string, string>;
  ports?: PortSpec[];
  command?: string[];
}

function taskSpec(fx: RuntimeFixture, script: string, o: SpecOptions = {}): TaskSpec {
  return {
    ...(fx.image === undefined ? {} : { image: fx.image }),
    command: o.command ?? [...fx.shell, script],
    env: o.env ?? {},
    resources: { cpu: 0.5, memoryBytes: 256 * MiB, pids: 100 },
    ports: o.ports ?? [],
    health: {},
    restart: { policy: 'never', initialBackoffMs: 100, maxBackoffMs: 1000 },
    stopGracePeriodMs: 1000,
  };
}

function newTaskId(): string {
  return `ct-${shortId(10)}`;
}

/** Starts a task and makes sure it is stopped and removed when the test ends, whatever happens. */
async function launch(
  t: TestContext,
  rt: Runtime,
  fx: RuntimeFixture,
  script: string,
  o: SpecOptions & { launchEnv?: Record<string, string>; taskId?: string } = {},
): Promise<TaskHandle> {
  const taskId = o.taskId ?? newTaskId();
  t.after(async () => {
    await rt.stop(taskId, 0);
    await rt.remove(taskId);
  });
  return rt.start({
    taskId,
    job: 'contract',
    version: 1,
    spec: taskSpec(fx, script, o),
    env: o.launchEnv ?? { DABBA_TASK_ID: taskId },
  });
}

async function readLogs(rt: Runtime, taskId: string, options: LogReadOptions = {}): Promise<LogLine[]> {
  const lines: LogLine[] = [];
  for await (const line of rt.logs(taskId, options)) lines.push(line);
  return lines;
}

function texts(lines: LogLine[], stream?: 'stdout' | 'stderr'): string[] {
  return lines.filter((l) => stream === undefined || l.stream === stream).map((l) => l.text);
}

/** Polls until check returns a value (not undefined), or fails after timeoutMs. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function waitForLine(rt: Runtime, taskId: string, text: string): Promise<true> {
  return eventually(`"${text}" in the logs of ${taskId}`, async () =>
    texts(await readLogs(rt, taskId)).includes(text) ? true : undefined,
  );
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function waitForGone(fx: RuntimeFixture, h: TaskHandle): Promise<true> {
  const gone = (): boolean => (fx.gone ? fx.gone(h) : !pidExists(h.pid));
  return eventually(`pid ${h.pid} to be gone`, () => Promise.resolve(gone() ? true : undefined));
}

function kill(fx: RuntimeFixture, h: TaskHandle): void {
  if (fx.kill) fx.kill(h, 'SIGKILL');
  else process.kill(h.pid, 'SIGKILL');
}

export function runtimeContract(name: string, factory: () => Promise<RuntimeFixture>): void {
  describe(`Runtime contract: ${name}`, { timeout: 60_000 }, () => {
    let fx: RuntimeFixture | undefined;
    const fixture = (): RuntimeFixture => {
      assert.ok(fx, 'fixture not created');
      return fx;
    };
    before(async () => {
      fx = await factory();
    });
    after(async () => {
      await fx?.cleanup();
    });

    test('start returns pid, address and ports; wait resolves with the exit code', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const before = Date.now();
      const h = await launch(t, rt, f, 'exit 3', { ports: [{ name: 'http', port: 8080, protocol: 'tcp' }] });
      assert.ok(Number.isInteger(h.pid) && h.pid > 0, `pid ${h.pid}`);
      assert.equal(typeof h.address, 'string');
      assert.ok(h.address.length > 0);
      assert.deepEqual(Object.keys(h.ports), ['http']);
      const port = h.ports['http'] ?? 0;
      assert.ok(Number.isInteger(port) && port > 0 && port < 65536, `port ${port}`);
      assert.ok(h.startedAt >= before - 1000 && h.startedAt <= Date.now() + 1000);
      const status = await rt.wait(h.taskId);
      assert.equal(status.exitCode, 3);
      assert.equal(status.reason, 'Exited');
      assert.equal(status.oomKilled, false);
      assert.ok(status.finishedAt >= h.startedAt - 1000);
      assert.deepEqual(await rt.wait(h.taskId), status, 'wait again gives the same status');
    });

    test('a task killed by a signal reports 128+N', async (t) => {
      const f = fixture();
      const h = await launch(t, f.runtime, f, `echo ready; ${LOOP}`);
      await waitForLine(f.runtime, h.taskId, 'ready');
      kill(f, h);
      const status = await f.runtime.wait(h.taskId);
      assert.equal(status.exitCode, 137);
      assert.notEqual(status.reason, 'Exited');
    });

    test('stop kills a task that ignores SIGTERM once the grace period is over', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const h = await launch(t, rt, f, `trap "" TERM; echo ready; ${LOOP}`);
      await waitForLine(rt, h.taskId, 'ready');
      const t0 = Date.now();
      await rt.stop(h.taskId, 400);
      const took = Date.now() - t0;
      assert.ok(took >= 350, `stopped after ${took}ms, before the 400ms grace period`);
      assert.ok(took < 4000, `stop took ${took}ms`);
      const status = await rt.wait(h.taskId);
      assert.equal(status.exitCode, 137);
    });

    test('stop is quick for a task that exits on SIGTERM; stop and remove are idempotent', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const h = await launch(t, rt, f, `trap "exit 143" TERM; echo ready; ${LOOP}`);
      await waitForLine(rt, h.taskId, 'ready');
      const t0 = Date.now();
      await Promise.all([rt.stop(h.taskId, 5000), rt.stop(h.taskId, 5000)]);
      const took = Date.now() - t0;
      assert.ok(took < 2500, `stop took ${took}ms despite the task exiting on SIGTERM`);
      assert.equal((await rt.wait(h.taskId)).exitCode, 143);
      const t1 = Date.now();
      await rt.stop(h.taskId, 5000);
      assert.ok(Date.now() - t1 < 1000, 'stopping a stopped task returns at once');
      await rt.remove(h.taskId);
      await rt.remove(h.taskId);
      await rt.stop(h.taskId, 100);
      await rt.stop('ct-never-existed', 100);
      await rt.remove('ct-never-existed');
    });

    test('env: spec.env merged with launch.env; declared ports as DABBA_PORT_<NAME> and PORT', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const h = await launch(
        t,
        rt,
        f,
        'echo "A=$A"; echo "B=$B"; echo "C=$C"; echo "HTTP=$DABBA_PORT_HTTP"; ' +
          'echo "ADMIN=$DABBA_PORT_ADMIN_API"; echo "PORT=$PORT"',
        {
          env: { A: 'from-spec', B: 'from-spec' },
          launchEnv: { B: 'from-launch', C: 'from-launch' },
          ports: [
            { name: 'http', port: 8080, protocol: 'tcp' },
            { name: 'admin-api', port: 9090, protocol: 'tcp' },
          ],
        },
      );
      assert.equal((await rt.wait(h.taskId)).exitCode, 0);
      const out = texts(await readLogs(rt, h.taskId), 'stdout');
      const http = h.ports['http'];
      const admin = h.ports['admin-api'];
      assert.ok(http !== undefined && admin !== undefined);
      assert.notEqual(http, admin);
      assert.deepEqual(out, [
        'A=from-spec',
        'B=from-launch',
        'C=from-launch',
        `HTTP=${http}`,
        `ADMIN=${admin}`,
        `PORT=${http}`,
      ]);
    });

    test('logs keep stdout and stderr apart, and tail returns the last lines', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const a = await launch(t, rt, f, 'echo out1; echo err1 >&2; echo out2; echo err2 >&2');
      const b = await launch(t, rt, f, 'for i in 1 2 3 4 5; do echo line$i; done');
      await rt.wait(a.taskId);
      await rt.wait(b.taskId);
      const lines = await readLogs(rt, a.taskId);
      assert.deepEqual(texts(lines, 'stdout'), ['out1', 'out2']);
      assert.deepEqual(texts(lines, 'stderr'), ['err1', 'err2']);
      assert.equal(lines.length, 4);
      const tail = await readLogs(rt, b.taskId, { tail: 2 });
      assert.deepEqual(
        tail.map(({ stream, text }) => ({ stream, text })),
        [
          { stream: 'stdout', text: 'line4' },
          { stream: 'stdout', text: 'line5' },
        ],
      );
      assert.equal((await readLogs(rt, b.taskId)).length, 5);
    });

    test('logs follow lines as the task writes them, until the signal aborts', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const h = await launch(
        t,
        rt,
        f,
        `echo first; sleep 0.3; echo second >&2; sleep 0.2; echo third; ${LOOP}`,
      );
      const ac = new AbortController();
      const guard = setTimeout(() => ac.abort(), 8000);
      t.after(() => clearTimeout(guard));
      const seen: LogLine[] = [];
      for await (const line of rt.logs(h.taskId, { follow: true, signal: ac.signal })) {
        seen.push({ stream: line.stream, text: line.text });
        if (line.text === 'third') ac.abort();
      }
      assert.deepEqual(seen, [
        { stream: 'stdout', text: 'first' },
        { stream: 'stderr', text: 'second' },
        { stream: 'stdout', text: 'third' },
      ]);
    });

    test('exec runs a command in the task environment, with exit code, output and timeout', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const h = await launch(t, rt, f, LOOP, { env: { X: '42' } });
      const r = await rt.exec(h.taskId, [...f.shell, 'echo "x=$X"; echo oops >&2; exit 3'], 5000);
      assert.equal(r.exitCode, 3);
      assert.equal(r.timedOut, false);
      assert.match(r.output, /x=42/);
      assert.match(r.output, /oops/);
      const ok = await rt.exec(h.taskId, [...f.shell, 'true'], 5000);
      assert.deepEqual([ok.exitCode, ok.timedOut], [0, false]);
      const t0 = Date.now();
      const slow = await rt.exec(h.taskId, [...f.shell, 'sleep 5'], 300);
      assert.equal(slow.timedOut, true);
      assert.notEqual(slow.exitCode, 0);
      assert.ok(Date.now() - t0 < 3000, `timed-out exec returned after ${Date.now() - t0}ms`);
    });

    test('execStream streams stdout and stderr apart, with the exit code, and an abort ends it', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const h = await launch(t, rt, f, LOOP, { env: { X: '42' } });
      const s = await rt.execStream(h.taskId, [...f.shell, 'echo "x=$X"; echo oops >&2; echo two; exit 5']);
      const got: Record<string, string> = { stdout: '', stderr: '' };
      for await (const c of s.output) got[c.stream] += Buffer.from(c.data).toString('utf8');
      assert.equal(await s.exit, 5);
      assert.equal(got['stdout'], 'x=42\ntwo\n');
      assert.equal(got['stderr'], 'oops\n');
      const missing = await rt.execStream(h.taskId, ['no-such-command-here']);
      for await (const _chunk of missing.output) {
        // drained: only the exit code matters
      }
      assert.notEqual(await missing.exit, 0, 'a command that does not exist fails');
      const ac = new AbortController();
      const long = await rt.execStream(h.taskId, [...f.shell, 'echo started; sleep 30'], {
        signal: ac.signal,
      });
      const t0 = Date.now();
      for await (const c of long.output) {
        if (Buffer.from(c.data).toString('utf8').includes('started')) ac.abort();
      }
      assert.notEqual(await long.exit, 0);
      assert.ok(Date.now() - t0 < 5000, `aborted exec ended after ${Date.now() - t0}ms`);
      const h2 = await launch(t, rt, f, 'exit 0');
      await rt.wait(h2.taskId);
      await assert.rejects(rt.execStream(h2.taskId, [...f.shell, 'true']), RuntimeError);
    });

    test('execStream passes stdin, and gives a terminal that follows resizes and turns Ctrl-C into SIGINT', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const h = await launch(t, rt, f, LOOP);
      if (f.interactiveExec === false) {
        await assert.rejects(rt.execStream(h.taskId, ['cat'], { stdin: true }), RuntimeError);
        await assert.rejects(rt.execStream(h.taskId, ['sh'], { tty: { cols: 80, rows: 24 } }), RuntimeError);
        return;
      }
      const ac = new AbortController();
      t.after(() => ac.abort()); // a failed assertion leaves no command behind
      const piped = await rt.execStream(h.taskId, ['cat'], { stdin: true, signal: ac.signal });
      assert.ok(piped.input, 'a session with stdin has an input');
      await piped.input.write(new TextEncoder().encode('hello\n'));
      piped.input.end();
      let text = '';
      for await (const c of piped.output) text += Buffer.from(c.data).toString('utf8');
      assert.deepEqual([text, await piped.exit], ['hello\n', 0]);

      const s = await rt.execStream(h.taskId, ['sh'], {
        stdin: true,
        tty: { cols: 100, rows: 30 },
        signal: ac.signal,
      });
      assert.ok(s.input && s.resize !== undefined, 'a terminal session has an input and a resize');
      let out = '';
      const streams = new Set<string>();
      const reading = (async () => {
        for await (const c of s.output) {
          streams.add(c.stream);
          out += Buffer.from(c.data).toString('utf8');
        }
      })();
      const type = (line: string): Promise<void> => s.input!.write(new TextEncoder().encode(line));
      const until = async (re: RegExp): Promise<void> => {
        for (let i = 0; i < 100 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 100));
        assert.match(out, re);
      };
      // The shell's prompt first: runc sizes the container's terminal just after starting the command.
      await until(/[#$] /);
      await type('stty size; tty; echo "=$((6*7))="\n');
      await until(/=42=/);
      assert.match(out, /\b30 100\r?$/m, 'the terminal has the size given at the start');
      assert.match(out, /\/dev\/pts\/\d+\r?$/m, 'tty names a pty');
      s.resize(120, 40);
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      await type('sleep 100\n');
      await new Promise((r) => setTimeout(r, 500));
      await type('\u0003');
      await type('stty size; exit 7\n');
      await reading;
      assert.equal(await s.exit, 7, out);
      assert.match(out, /\b40 120\r?$/m, 'the resize reached the terminal');
      assert.ok(Date.now() - t0 < 10_000, `Ctrl-C interrupted sleep: ended after ${Date.now() - t0}ms`);
      assert.deepEqual([...streams], ['stdout'], 'with a terminal everything is stdout');
    });

    test('stats reports the usage of a running task', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const h = await launch(t, rt, f, `echo ready; ${LOOP}`);
      await waitForLine(rt, h.taskId, 'ready');
      const usage = await rt.stats(h.taskId);
      assert.ok(usage, 'stats of a running task');
      assert.ok(usage.memoryBytes > 0, `memory ${usage.memoryBytes}`);
      assert.ok(usage.pids >= 1, `pids ${usage.pids}`);
      assert.ok(Number.isFinite(usage.cpuSeconds) && usage.cpuSeconds >= 0);
    });

    test('start of a command that does not exist rejects with CommandNotFound, leaving nothing', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const taskId = newTaskId();
      await assert.rejects(
        launch(t, rt, f, '', { taskId, command: ['dabba-no-such-command-7f3a'] }),
        (e: unknown) => {
          assert.ok(e instanceof RuntimeError, `got ${String(e)}`);
          assert.equal(e.details['reason'], 'CommandNotFound');
          return true;
        },
      );
      assert.equal(await rt.stats(taskId), undefined);
      await assert.rejects(rt.wait(taskId));
      const { running, exited } = await rt.recover();
      assert.ok(!running.some((h) => h.taskId === taskId));
      assert.ok(!exited.some((e) => e.taskId === taskId));
      // The id is free again.
      await launch(t, rt, f, 'exit 0', { taskId });
      assert.equal((await rt.wait(taskId)).exitCode, 0);
    });

    test('recover: a new instance re-adopts running tasks and reports the ones that died', async (t) => {
      const f2 = await factory();
      t.after(() => f2.cleanup());
      const rt1 = f2.runtime;
      const ports: PortSpec[] = [{ name: 'http', port: 8080, protocol: 'tcp' }];
      const a = await launch(t, rt1, f2, `echo hello; ${LOOP}`, { ports });
      const b = await launch(t, rt1, f2, `echo ready; ${LOOP}`);
      await waitForLine(rt1, a.taskId, 'hello');
      await waitForLine(rt1, b.taskId, 'ready');
      await rt1.close();
      kill(f2, b);
      await waitForGone(f2, b);

      const rt2 = await f2.reopen();
      t.after(async () => {
        for (const id of [a.taskId, b.taskId]) {
          await rt2.stop(id, 0);
          await rt2.remove(id);
        }
        await rt2.close();
      });
      const found = await rt2.recover();
      const adopted = found.running.find((h) => h.taskId === a.taskId);
      assert.ok(adopted, 'the running task is re-adopted');
      assert.equal(adopted.pid, a.pid);
      assert.deepEqual(adopted.ports, a.ports);
      assert.equal(adopted.address, a.address);
      assert.ok(!found.running.some((h) => h.taskId === b.taskId));
      const dead = found.exited.find((e) => e.taskId === b.taskId);
      assert.ok(dead, 'the task that died meanwhile is reported as exited');
      assert.ok(
        dead.status.exitCode === null || dead.status.exitCode === 137,
        `exit ${dead.status.exitCode}`,
      );
      assert.deepEqual(await rt2.wait(b.taskId), dead.status);

      assert.ok(texts(await readLogs(rt2, a.taskId)).includes('hello'), 'logs survive the restart');
      assert.ok(await rt2.stats(a.taskId), 'stats of a re-adopted task');
      const exec = await rt2.exec(a.taskId, [...f2.shell, 'echo adopted'], 5000);
      assert.equal(exec.exitCode, 0);
      const waiting = rt2.wait(a.taskId);
      await rt2.stop(a.taskId, 1000);
      const status = await waiting;
      assert.ok(status.finishedAt > 0);
      await waitForGone(f2, a);
      await rt2.remove(a.taskId);
      await rt2.remove(b.taskId);
      const again = await rt2.recover();
      assert.deepEqual(
        [...again.running, ...again.exited].filter((x) => x.taskId === a.taskId || x.taskId === b.taskId),
        [],
        'removed tasks are forgotten',
      );
    });

    test("a restart in place keeps the address and the ended run's log as the previous one", async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const first = await launch(t, rt, f, 'echo run one; exit 3');
      const id = first.taskId;
      assert.equal((await rt.wait(id)).exitCode, 3);
      await assert.rejects(readLogs(rt, id, { previous: true }), 'no previous run before a restart');
      await rt.remove(id, { restarting: true });
      assert.deepEqual(texts(await readLogs(rt, id, { previous: true })), ['run one']);
      const second = await rt.start({
        taskId: id,
        job: 'contract',
        version: 1,
        spec: taskSpec(f, `echo run two; ${LOOP}`),
        env: { DABBA_TASK_ID: id },
      });
      assert.equal(second.address, first.address, 'the same address after the restart');
      await waitForLine(rt, id, 'run two');
      assert.deepEqual(texts(await readLogs(rt, id)), ['run two'], 'the current run only');
      assert.deepEqual(texts(await readLogs(rt, id, { previous: true })), ['run one']);
      const again = await (await f.reopen()).recover();
      assert.ok(
        again.running.some((h) => h.taskId === id && h.address === first.address),
        'a new instance adopts it',
      );
      await rt.stop(id, 0);
      await rt.remove(id);
      await assert.rejects(readLogs(rt, id, { previous: true }), 'removed for good: no previous log');
      const after = await (await f.reopen()).recover();
      assert.ok(![...after.running, ...after.exited].some((x) => x.taskId === id), 'forgotten');
    });

    test('a task left between two runs is reported as exited by recover, and removable', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const h = await launch(t, rt, f, 'echo once; exit 0');
      await rt.wait(h.taskId);
      await rt.remove(h.taskId, { restarting: true });
      const rt2 = await f.reopen();
      const found = await rt2.recover();
      assert.ok(
        found.exited.some((x) => x.taskId === h.taskId),
        JSON.stringify(found),
      );
      assert.deepEqual(texts(await readLogs(rt2, h.taskId, { previous: true })), ['once']);
      await rt2.remove(h.taskId);
      const later = await (await f.reopen()).recover();
      assert.ok(![...later.running, ...later.exited].some((x) => x.taskId === h.taskId));
    });

    test('no process is left after stop and remove', async (t) => {
      const f = fixture();
      const rt = f.runtime;
      const h = await launch(t, rt, f, `sleep 30 & echo ready; ${LOOP}`);
      await waitForLine(rt, h.taskId, 'ready');
      await rt.stop(h.taskId, 200);
      await rt.remove(h.taskId);
      await waitForGone(f, h);
      await assert.rejects(rt.wait(h.taskId), 'a removed task is unknown');
      assert.equal(await rt.stats(h.taskId), undefined);
    });
  });
}
