import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { ForkHelper, shellQuote } from './fork-helper.ts';

async function helper(t: TestContext): Promise<{ h: ForkHelper; dir: string }> {
  const base = await mkdtemp(join(tmpdir(), 'dabba-fork-helper-'));
  const h = new ForkHelper(join(base, 'out'));
  t.after(async () => {
    await h.close();
    await rm(base, { recursive: true, force: true });
  });
  return { h, dir: join(base, 'out') };
}

describe('ForkHelper', () => {
  test('runs tools with exact arguments, separate stdout and stderr, and their exit codes', async (t) => {
    const { h, dir } = await helper(t);
    const odd = ["it's", 'a "b"', '$HOME `id` $(id)', 'two\nlines', '', '*', '\\'];
    const r = await h.run('/usr/bin/printf', ['%s|', ...odd]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, odd.map((a) => `${a}|`).join(''));
    const e = await h.run('/bin/sh', ['-c', 'echo out; echo err >&2; exit 7']);
    assert.deepEqual(e, { code: 7, stdout: 'out\n', stderr: 'err\n' });
    const missing = await h.run('/no/such/tool', []);
    assert.equal(missing.code, 127);
    // Deleted after the call answered (not waited for): give it time.
    let left = await readdir(dir);
    for (let i = 0; i < 300 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await readdir(dir);
    }
    assert.deepEqual(left, [], 'output files are deleted');
  });

  test('feeds input verbatim (no expansion), runs in cwd, and without input reads nothing', async (t) => {
    const { h } = await helper(t);
    const input = 'line 1 $HOME `id`\n\'quoted\' "double"\n__DABBA_INPUT_1__\nEOF\n';
    assert.equal((await h.run('/bin/cat', [], { input })).stdout, input);
    assert.equal((await h.run('/bin/cat', [], { input: 'no newline' })).stdout, 'no newline\n');
    assert.equal((await h.run('/bin/pwd', [], { cwd: '/usr' })).stdout, '/usr\n');
    // stdin is /dev/null, not the helper's command stream
    assert.equal((await h.run('/bin/cat', [])).stdout, '');
  });

  test('runs tools concurrently', async (t) => {
    const { h } = await helper(t);
    const t0 = Date.now();
    const rs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => h.run('/bin/sh', ['-c', `sleep 0.3; echo ${i}`])),
    );
    assert.deepEqual(
      rs.map((r) => r.stdout),
      Array.from({ length: 8 }, (_, i) => `${i}\n`),
    );
    assert.ok(Date.now() - t0 < 2000, `8 x 0.3 s sleeps took ${Date.now() - t0} ms`);
  });

  test('a timeout kills the tool', async (t) => {
    const { h } = await helper(t);
    const t0 = Date.now();
    const r = await h.run('/bin/sleep', ['30'], { timeoutMs: 200 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /timed out after 200 ms/);
    assert.ok(Date.now() - t0 < 5000);
  });

  test('a dead helper fails the calls in flight; the next call starts a new one', async (t) => {
    const { h } = await helper(t);
    assert.equal((await h.run('/bin/true', [])).code, 0);
    const pid = h.pid;
    assert.ok(pid !== undefined);
    const inflight = h.run('/bin/sleep', ['0.5']);
    process.kill(pid, 'SIGKILL');
    const r = await inflight;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /tool helper/);
    const again = await h.run('/bin/echo', ['back']);
    assert.equal(again.stdout, 'back\n');
    assert.notEqual(h.pid, pid);
  });

  test('close() ends the helper and removes its directory; it can be used again', async (t) => {
    const { h, dir } = await helper(t);
    await h.run('/bin/true', []);
    const pid = h.pid as number;
    await h.close();
    await assert.rejects(readdir(dir));
    for (let i = 0; i < 50; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.throws(() => process.kill(pid, 0), 'the helper shell exited');
    assert.equal((await h.run('/bin/echo', ['x'])).stdout, 'x\n');
  });

  test('runWithSync relays the first line of fd 3 without waiting for a daemon child; EOF is no line', async (t) => {
    const { h } = await helper(t);
    const t0 = Date.now();
    // Like conmon: the process started exits at once, a daemon child writes the line and stays.
    const r = await h.runWithSync('/bin/sh', ['-c', '(printf "%s\\n" "$MSG" >&3; exec sleep 0.5) & exit 0'], {
      env: { MSG: `{"data": 42, "message": "a b'c \\ $HOME"}` },
    });
    assert.equal(r.line, `{"data": 42, "message": "a b'c \\ $HOME"}`);
    assert.ok(Date.now() - t0 < 450, `took ${Date.now() - t0} ms: waited for the daemon`);
    const failed = await h.runWithSync('/bin/sh', ['-c', 'echo oops >&2; exit 3']);
    assert.equal(failed.line, undefined);
    assert.equal(failed.result.stderr, 'oops\n');
    assert.equal(failed.result.code, 3, "the tool's exit code, not the relay's");
    assert.equal(r.result.code, 0);
    await new Promise((r) => setTimeout(r, 500)); // let the sleep above end
  });

  test('a working directory that cannot be entered ends the call with 127 and says why', async (t) => {
    const { h } = await helper(t);
    const gone = '/nonexistent/dabba-fork-helper-test';
    const r = await h.run('/bin/true', [], { cwd: gone });
    assert.equal(r.code, 127);
    assert.match(r.stderr, /nonexistent/);
    const s = await h.runWithSync('/bin/true', [], { cwd: gone });
    assert.equal(s.result.code, 127);
    assert.equal(s.line, undefined);
  });

  test('holdOpen gives the tool alone a named pipe open for reading and writing as fd 4', async (t) => {
    const { h } = await helper(t);
    const base = await mkdtemp(join(tmpdir(), 'dabba-fork-hold-'));
    t.after(() => rm(base, { recursive: true, force: true }));
    const pipe = join(base, "a pipe 'q'");
    assert.equal((await h.run('mkfifo', [pipe])).code, 0);
    // Opening a pipe for reading and writing does not wait for a peer; what is written to fd 4 is
    // read back from it by the same process.
    const r = await h.run(
      '/bin/sh',
      ['-c', 'echo through >&4; read -r l <&4; echo "$l"; readlink /proc/$$/fd/4'],
      {
        holdOpen: pipe,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `through\n${pipe}\n`);
    const s = await h.runWithSync('/bin/sh', ['-c', 'readlink /proc/$$/fd/4 >&3'], { holdOpen: pipe });
    assert.equal(s.line, pipe);
    const without = await h.run('/bin/sh', ['-c', 'readlink /proc/$$/fd/4 || echo none']);
    assert.notEqual(without.stdout, `${pipe}\n`, 'other tools do not get it');
  });

  test('shellQuote', () => {
    assert.equal(shellQuote("a'b"), `'a'\\''b'`);
    assert.equal(shellQuote(''), "''");
  });
});
