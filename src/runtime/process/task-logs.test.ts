import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { LogLine } from '../runtime.ts';
import { TaskLogs } from './task-logs.ts';

/** A task's logs in a fresh directory, its stdout holding `stdout` so far. */
async function logsWith(t: TestContext, stdout: string): Promise<TaskLogs> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-task-logs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const logs = new TaskLogs(dir, { maxBytes: 1 << 20, keep: 1 });
  await writeFile(logs.path('stdout'), stdout);
  return logs;
}

/** Follows a running task's logs until the test ends; `next()` is the next line's text. */
function follow(t: TestContext, logs: TaskLogs, tail?: number): { next(): Promise<string> } {
  const ac = new AbortController();
  const running = { exited: () => false, gone: () => false };
  const options = { follow: true, signal: ac.signal, ...(tail === undefined ? {} : { tail }) };
  const it = logs.read(options, running)[Symbol.asyncIterator]();
  t.after(async () => {
    ac.abort();
    await it.return?.(undefined); // closes the follower's directory watch
  });
  return {
    async next(): Promise<string> {
      const r: IteratorResult<LogLine> = await it.next();
      assert.equal(r.done, false);
      return r.value.text;
    },
  };
}

test('a follower begun while a line is half written reads it whole, once', async (t) => {
  const logs = await logsWith(t, 'one\n{"n":1,"le');
  const lines = follow(t, logs);
  assert.equal(await lines.next(), 'one');
  await appendFile(logs.path('stdout'), 'vel":"info"}\ntwo\n');
  assert.equal(await lines.next(), '{"n":1,"level":"info"}');
  assert.equal(await lines.next(), 'two');
});

test('with tail, the half-written line is not counted as one of the last lines', async (t) => {
  const logs = await logsWith(t, 'one\ntwo\nthr');
  const lines = follow(t, logs, 1);
  assert.equal(await lines.next(), 'two');
  await appendFile(logs.path('stdout'), 'ee\n');
  assert.equal(await lines.next(), 'three');
});

test("an exited task's unterminated last line still comes, once", async (t) => {
  const logs = await logsWith(t, 'one\nlast');
  const lines: string[] = [];
  const hooks = { exited: () => true, gone: () => lines.includes('last') };
  for await (const l of logs.read({ follow: true }, hooks)) lines.push(l.text);
  assert.deepEqual(lines, ['one', 'last']);
});
