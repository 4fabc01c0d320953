import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RuntimeError } from '../../errors/index.ts';
import { shortId, silentLogger, sleep } from '../../lib/index.ts';
import type { PortSpec, TaskSpec } from '../../model/index.ts';
import { runtimeContract, type RuntimeFixture } from '../contract.ts';
import type { LogLine, Runtime, TaskHandle } from '../runtime.ts';
import { ProcessRuntime, type ProcessRuntimeOptions } from './index.ts';
import { LineSplitter } from './line-splitter.ts';
import { isAlive, readStat } from './proc.ts';
import { portEnvName } from '../port-env.ts';

type Options = Omit<ProcessRuntimeOptions, 'stateDir'>;

/** A fresh state dir; cleanup re-adopts whatever is left there, kills it, and deletes the dir. */
async function fixture(options: Options = {}): Promise<RuntimeFixture & { stateDir: string }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'dabba-process-rt-'));
  const runtimes: Runtime[] = [];
  const make = (): Runtime => {
    const rt = new ProcessRuntime({ stateDir, logger: silentLogger, ...options });
    runtimes.push(rt);
    return rt;
  };
  return {
    stateDir,
    runtime: make(),
    shell: ['sh', '-c'],
    reopen: () => Promise.resolve(make()),
    cleanup: async () => {
      for (const rt of runtimes) await rt.close();
      const sweeper = new ProcessRuntime({ stateDir, logger: silentLogger });
      const { running, exited } = await sweeper.recover();
      for (const { taskId } of [...running, ...exited]) {
        await sweeper.stop(taskId, 0);
        await sweeper.remove(taskId);
      }
      await sweeper.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

runtimeContract('process', () => fixture());

const LOOP = 'while true; do sleep 0.05; done';

function spec(command: string[], o: Partial<TaskSpec> = {}): TaskSpec {
  return {
    command,
    env: {},
    resources: { cpu: 0.5, memoryBytes: 256 * 1024 * 1024, pids: 100 },
    ports: [],
    health: {},
    restart: { policy: 'never', initialBackoffMs: 100, maxBackoffMs: 1000 },
    stopGracePeriodMs: 1000,
    ...o,
  };
}

async function start(
  t: TestContext,
  rt: Runtime,
  command: string[],
  o: Partial<TaskSpec> & { taskId?: string } = {},
): Promise<TaskHandle> {
  const { taskId = `pt-${shortId(10)}`, ...rest } = o;
  t.after(async () => {
    await rt.stop(taskId, 0);
    await rt.remove(taskId);
  });
  return rt.start({ taskId, job: 'proc', version: 1, spec: spec(command, rest), env: {} });
}

async function withFixture(
  t: TestContext,
  options: Options = {},
): Promise<RuntimeFixture & { stateDir: string }> {
  const f = await fixture(options);
  t.after(() => f.cleanup());
  return f;
}

async function tmp(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function lines(rt: Runtime, taskId: string, tail?: number): Promise<string[]> {
  const out: string[] = [];
  for await (const l of rt.logs(taskId, tail === undefined ? {} : { tail })) out.push(l.text);
  return out;
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  ms = 5000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('ProcessRuntime', () => {
  test('tasks run in their own session and process group', async (t) => {
    const { runtime: rt } = await withFixture(t);
    const h = await start(t, rt, ['sh', '-c', `echo ready; ${LOOP}`]);
    const s = await until('stat', () => readStat(h.pid));
    assert.equal(s.session, h.pid);
    assert.equal(s.pgrp, h.pid);
    assert.equal(h.address, '127.0.0.1');
  });

  test('restart (remediation restart-runtime) keeps a running task as it is', async (t) => {
    const { runtime: rt } = await withFixture(t);
    assert.ok(rt.restart !== undefined);
    const h = await start(t, rt, ['sh', '-c', `echo before; ${LOOP}`]);
    await until('the first line logged', async () =>
      (await lines(rt, h.taskId)).length > 0 ? true : undefined,
    );
    assert.match(await rt.restart(), /; 1 running task kept$/);
    assert.ok(await isAlive(h.pid, null), 'not stopped');
    assert.deepEqual(await lines(rt, h.taskId), ['before']);
  });

  test('two tasks declaring the same port get distinct host ports they can listen on', async (t) => {
    const { runtime: rt } = await withFixture(t, { portRange: { min: 42000, max: 42999 } });
    const ports: PortSpec[] = [{ name: 'web', port: 8080, protocol: 'tcp' }];
    const server =
      "require('net').createServer((s) => s.end(process.env.DABBA_TASK_NAME + '\\n'))" +
      ".listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'))";
    const a = await start(t, rt, [process.execPath, '-e', server], { ports, env: { DABBA_TASK_NAME: 'a' } });
    const b = await start(t, rt, [process.execPath, '-e', server], { ports, env: { DABBA_TASK_NAME: 'b' } });
    const pa = a.ports['web'] ?? 0;
    const pb = b.ports['web'] ?? 0;
    assert.notEqual(pa, pb);
    for (const p of [pa, pb]) assert.ok(p >= 42000 && p <= 42999, `port ${p} outside the range`);
    for (const [h, name] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      await until('listening', async () =>
        (await lines(rt, h.taskId)).includes('listening') ? true : undefined,
      );
      const sock = connect(h.ports['web'] ?? 0, h.address);
      const chunks: Buffer[] = [];
      sock.on('data', (c: Buffer) => chunks.push(c));
      await once(sock, 'close');
      assert.equal(Buffer.concat(chunks).toString(), `${name}\n`);
    }
  });

  test('a port in use is skipped; an exhausted range rejects with NoPortsAvailable', async (t) => {
    const blocker = createServer();
    blocker.listen(0, '0.0.0.0');
    await once(blocker, 'listening');
    t.after(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as { port: number }).port;
    const { runtime: rt, stateDir } = await withFixture(t, { portRange: { min: port, max: port } });
    const taskId = `pt-${shortId(10)}`;
    await assert.rejects(
      start(t, rt, ['sh', '-c', 'exit 0'], { taskId, ports: [{ name: 'x', port: 1, protocol: 'tcp' }] }),
      (e: unknown) => e instanceof RuntimeError && e.details['reason'] === 'NoPortsAvailable',
    );
    assert.equal(await exists(join(stateDir, 'tasks', taskId)), false);
  });

  test('port env names are upper snake case', () => {
    assert.equal(portEnvName('http'), 'DABBA_PORT_HTTP');
    assert.equal(portEnvName('admin-api'), 'DABBA_PORT_ADMIN_API');
    assert.equal(portEnvName('adminApi'), 'DABBA_PORT_ADMIN_API');
    assert.equal(portEnvName('grpc.v2'), 'DABBA_PORT_GRPC_V2');
  });

  test('the command is looked up on the task PATH; workingDir is the cwd; a missing one fails', async (t) => {
    const { runtime: rt } = await withFixture(t);
    const bin = await tmp(t, 'dabba-bin-');
    const wd = await tmp(t, 'dabba-wd-');
    await writeFile(join(bin, 'hello-dabba'), '#!/bin/sh\necho "hi from $(pwd)"\n');
    await chmod(join(bin, 'hello-dabba'), 0o755);
    const h = await start(t, rt, ['hello-dabba'], { env: { PATH: `${bin}:/usr/bin:/bin` }, workingDir: wd });
    assert.equal((await rt.wait(h.taskId)).exitCode, 0);
    assert.deepEqual(await lines(rt, h.taskId), [`hi from ${wd}`]);
    await assert.rejects(
      start(t, rt, ['sh', '-c', 'true'], { workingDir: join(wd, 'nope') }),
      (e: unknown) => e instanceof RuntimeError && e.details['reason'] === 'StartFailed',
    );
    await assert.rejects(
      start(t, rt, [join(wd, 'missing-binary')]),
      (e: unknown) => e instanceof RuntimeError && e.details['reason'] === 'CommandNotFound',
    );
  });

  test('a second start of a running task id is refused', async (t) => {
    const { runtime: rt } = await withFixture(t);
    const h = await start(t, rt, ['sh', '-c', LOOP]);
    await assert.rejects(
      rt.start({ taskId: h.taskId, job: 'proc', version: 1, spec: spec(['sh', '-c', 'true']), env: {} }),
      (e: unknown) => e instanceof RuntimeError && e.details['reason'] === 'AlreadyExists',
    );
    assert.ok(await isAlive(h.pid, null));
  });

  test('exec: a missing command is exit 127 (a value); a stopped task refuses exec', async (t) => {
    const { runtime: rt } = await withFixture(t);
    const wd = await tmp(t, 'dabba-wd-');
    const h = await start(t, rt, ['sh', '-c', LOOP], { workingDir: wd });
    const missing = await rt.exec(h.taskId, ['dabba-no-such-command'], 1000);
    assert.equal(missing.exitCode, 127);
    assert.equal(missing.timedOut, false);
    const pwd = await rt.exec(h.taskId, ['pwd'], 2000);
    assert.equal(pwd.output.trim(), wd);
    await rt.stop(h.taskId, 100);
    await assert.rejects(
      rt.exec(h.taskId, ['true'], 1000),
      (e: unknown) => e instanceof RuntimeError && e.details['reason'] === 'NotRunning',
    );
  });

  test('stop also ends children that ignore SIGTERM or left the process group', async (t) => {
    const { runtime: rt } = await withFixture(t);
    const python = spawnSync('python3', ['-c', 'pass']).status === 0;
    const escape = python
      ? `python3 -c "import os, time; os.setpgid(0, 0); print('moved', flush=True); time.sleep(30)" & echo other=$!; `
      : '';
    const h = await start(t, rt, [
      'sh',
      '-c',
      `trap "" TERM; sleep 30 & echo child=$!; ${escape}echo ready; ${LOOP}`,
    ]);
    const out = await until('ready', async () => {
      const l = await lines(rt, h.taskId);
      return l.includes('ready') && (!python || l.includes('moved')) ? l : undefined;
    });
    const pids = out.filter((l) => /^(child|other)=/.test(l)).map((l) => Number(l.split('=')[1]));
    assert.equal(pids.length, python ? 2 : 1);
    if (python) {
      const other = await until('python', () => readStat(pids[1] ?? 0));
      assert.notEqual(other.pgrp, h.pid, 'the python child has its own process group');
    }
    await rt.stop(h.taskId, 150);
    for (const pid of [h.pid, ...pids]) assert.equal(await isAlive(pid, null), false, `pid ${pid} survived`);
    await rt.remove(h.taskId);
  });

  test('an exit seen by one agent is reported with its real status after a restart', async (t) => {
    const f = await withFixture(t);
    const h = await start(t, f.runtime, ['sh', '-c', 'exit 7']);
    assert.equal((await f.runtime.wait(h.taskId)).exitCode, 7);
    await f.runtime.close();
    const rt2 = await f.reopen();
    const { running, exited } = await rt2.recover();
    assert.deepEqual(running, []);
    assert.deepEqual(
      exited.map((e) => [e.taskId, e.status.exitCode, e.status.reason]),
      [[h.taskId, 7, 'Exited']],
    );
    await rt2.remove(h.taskId);
  });

  test('a state file whose pid now belongs to another process is not adopted nor killed', async (t) => {
    const f = await withFixture(t);
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    t.after(() => void other.kill('SIGKILL'));
    await once(other, 'spawn');
    const pid = other.pid ?? 0;
    const dir = join(f.stateDir, 'tasks', 'pt-reused');
    await mkdir(dir, { recursive: true });
    const state = {
      format: 1,
      taskId: 'pt-reused',
      job: 'proc',
      version: 1,
      pid,
      procStartTime: 1,
      ports: {},
      startedAt: Date.now(),
      command: ['sleep', '30'],
      env: {},
      cwd: dir,
    };
    await writeFile(join(dir, 'state.json'), JSON.stringify(state));
    const rt = await f.reopen();
    const found = await rt.recover();
    assert.deepEqual(found.running, []);
    assert.deepEqual(
      found.exited.map((e) => [e.taskId, e.status.exitCode, e.status.reason]),
      [['pt-reused', null, 'Unknown']],
    );
    await rt.stop('pt-reused', 0);
    await rt.remove('pt-reused');
    assert.ok(await isAlive(pid, null), 'the unrelated process is untouched');
    assert.equal(await exists(dir), false);
  });

  test('an unterminated last line is returned, and flushed by follow once the task exits', async (t) => {
    const { runtime: rt } = await withFixture(t);
    const h = await start(t, rt, ['sh', '-c', "echo one; printf 'two'"]);
    await rt.wait(h.taskId);
    assert.deepEqual(await lines(rt, h.taskId), ['one', 'two']);
    assert.deepEqual(await lines(rt, h.taskId, 1), ['two']);
    const ac = new AbortController();
    const seen: string[] = [];
    const guard = setTimeout(() => ac.abort(), 3000);
    t.after(() => clearTimeout(guard));
    for await (const l of rt.logs(h.taskId, { follow: true, signal: ac.signal })) {
      seen.push(l.text);
      if (l.text === 'two') ac.abort();
    }
    assert.deepEqual(seen, ['one', 'two']);
  });

  test('logs rotate by copy-truncate, keep N files, and are read and followed across rotations', async (t) => {
    const f = await withFixture(t, { logMaxBytes: 200, logFiles: 2, logCheckIntervalMs: 60_000 });
    const rt = f.runtime as ProcessRuntime;
    const wd = await tmp(t, 'dabba-wd-');
    const script =
      'n=0; while true; do if [ -f go ]; then rm -f go; n=$((n+1)); ' +
      'for i in 1 2 3 4 5 6 7 8 9 10; do echo "b$n-l$i-xxxxxxxxxxxxxxxxxxxx"; done; echo "b$n" > ack; fi; ' +
      'sleep 0.01; done';
    const h = await start(t, rt, ['sh', '-c', script], { workingDir: wd });
    const batch = async (n: number): Promise<void> => {
      await writeFile(join(wd, 'go'), '');
      await until(`batch ${n}`, async () =>
        (await readFile(join(wd, 'ack'), 'utf8').catch(() => '')) === `b${n}\n` ? true : undefined,
      );
      // The log writer appends the batch a moment after the task wrote it to its pipe.
      const live = join(f.stateDir, 'tasks', h.taskId, 'stdout.log');
      await until(`batch ${n} in the log`, async () =>
        (await readFile(live, 'utf8')).includes(`b${n}-l10-`) ? true : undefined,
      );
    };
    const expected = (from: number, to: number): string[] => {
      const out: string[] = [];
      for (let n = from; n <= to; n++)
        for (let i = 1; i <= 10; i++) out.push(`b${n}-l${i}-xxxxxxxxxxxxxxxxxxxx`);
      return out;
    };
    const ac = new AbortController();
    const guard = setTimeout(() => ac.abort(), 10_000);
    t.after(() => clearTimeout(guard));
    const followed: LogLine[] = [];
    const last = expected(4, 4).at(-1);
    const follower = (async () => {
      for await (const l of rt.logs(h.taskId, { follow: true, signal: ac.signal })) {
        followed.push(l);
        if (l.text === last) ac.abort();
      }
    })();
    const dir = join(f.stateDir, 'tasks', h.taskId);
    await batch(1);
    await rt.rotateLogs();
    assert.equal((await stat(join(dir, 'stdout.log'))).size, 0);
    assert.deepEqual((await readFile(join(dir, 'stdout.log.1'), 'utf8')).trim().split('\n'), expected(1, 1));
    await batch(2);
    await rt.rotateLogs();
    // The follower may have missed up to 2 rotations (as many as are kept): let it catch up.
    const seen = (text: string | undefined) => () =>
      followed.some((l) => l.text === text) ? true : undefined;
    await until('the follower to see batch 2', seen(expected(2, 2).at(-1)));
    await batch(3);
    await rt.rotateLogs();
    await batch(4);
    await rt.rotateLogs();
    await batch(5);
    assert.equal(await exists(join(dir, 'stdout.log.3')), false, 'only 2 rotated files are kept');
    assert.deepEqual(await lines(rt, h.taskId), expected(3, 5));
    assert.deepEqual(await lines(rt, h.taskId, 15), expected(4, 5).slice(-15));
    await follower;
    assert.deepEqual(
      followed.map((l) => l.text),
      expected(1, 4),
    );
    assert.ok(followed.every((l) => l.stream === 'stdout' && l.time === undefined));
  });

  test('logs rotate on their own once over the size limit', async (t) => {
    const f = await withFixture(t, { logMaxBytes: 1000, logFiles: 1, logCheckIntervalMs: 30 });
    const h = await start(t, f.runtime, [
      'sh',
      '-c',
      `i=0; while [ $i -lt 300 ]; do echo "line $i"; i=$((i+1)); done; ${LOOP}`,
    ]);
    const dir = join(f.stateDir, 'tasks', h.taskId);
    await until('rotation', async () => ((await exists(join(dir, 'stdout.log.1'))) ? true : undefined));
    await until('truncation', async () =>
      (await stat(join(dir, 'stdout.log'))).size <= 1000 ? true : undefined,
    );
    assert.equal(await exists(join(dir, 'stdout.log.2')), false);
  });

  test('tasks survive the agent being SIGKILLed and are re-adopted with the same pid', async (t) => {
    const stateDir = await tmp(t, 'dabba-agent-death-');
    const index = fileURLToPath(new URL('./index.ts', import.meta.url));
    const code = `
      import { ProcessRuntime } from ${JSON.stringify(index)};
      const rt = new ProcessRuntime({ stateDir: process.env.STATE_DIR });
      const h = await rt.start({
        taskId: 'survivor', job: 'proc', version: 1, env: {},
        spec: ${JSON.stringify(spec(['sh', '-c', 'echo started; while true; do echo tick; sleep 0.02; done'], { ports: [{ name: 'http', port: 80, protocol: 'tcp' }] }))},
      });
      process.stdout.write(JSON.stringify(h) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const agent = spawn(process.execPath, ['--input-type=module', '-e', code], {
      env: { ...process.env, STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(async () => {
      agent.kill('SIGKILL');
      const sweeper = new ProcessRuntime({ stateDir });
      await sweeper.recover();
      await sweeper.stop('survivor', 0);
      await sweeper.remove('survivor');
      await sweeper.close();
    });
    let out = '';
    agent.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const handle = await until('the agent to start the task', () =>
      out.includes('\n') ? (JSON.parse(out.split('\n')[0] ?? '') as TaskHandle) : undefined,
    );
    agent.kill('SIGKILL');
    await once(agent, 'exit');
    const log = join(stateDir, 'tasks', 'survivor', 'stdout.log');
    const size1 = (await stat(log)).size;
    await sleep(200);
    assert.ok(await isAlive(handle.pid, null), 'the task outlives its agent');
    assert.ok((await stat(log)).size > size1, 'and keeps writing its logs');

    const rt = new ProcessRuntime({ stateDir });
    t.after(() => rt.close());
    const found = await rt.recover();
    assert.deepEqual(found.exited, []);
    assert.equal(found.running.length, 1);
    assert.deepEqual(found.running[0], handle);
    const waiting = rt.wait('survivor');
    await rt.stop('survivor', 500);
    const status = await waiting;
    assert.equal(status.exitCode, null, 'exit code of a task that is not our child is unknown');
    assert.equal(status.reason, 'Unknown');
    assert.equal(await isAlive(handle.pid, null), false);
    assert.equal((await lines(rt, 'survivor'))[0], 'started');
    await rt.remove('survivor');
  });
});

describe('LineSplitter', () => {
  test('splits on newlines across chunks without breaking multi-byte characters', () => {
    const s = new LineSplitter();
    const bytes = Buffer.from('héllo wörld\nsecond ✓\nrest');
    const got: string[] = [];
    for (let i = 0; i < bytes.length; i++) got.push(...s.push(bytes.subarray(i, i + 1)));
    assert.deepEqual(got, ['héllo wörld', 'second ✓']);
    assert.equal(s.flush(), 'rest');
    assert.equal(s.flush(), undefined);
  });

  test('cuts overlong lines', () => {
    const s = new LineSplitter();
    const got = s.push(Buffer.alloc(64 * 1024 + 10, 0x61));
    assert.equal(got.length, 1);
    assert.equal(got[0]?.length, 64 * 1024);
    assert.equal(s.flush()?.length, 10);
  });
});
