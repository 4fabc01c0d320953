/**
 * The runtime contract for running commands in a task.
 * Part of the runtime contract suite (../contract.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeError } from '../../errors/index.ts';
import { LOOP, launch, type RuntimeFixture } from './fixture.ts';

/** exec, and execStream with its output streams and abort. */
export function execTests(fixture: () => RuntimeFixture): void {
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
}

/** execStream with stdin and a terminal. */
export function interactiveExecTests(fixture: () => RuntimeFixture): void {
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
}
