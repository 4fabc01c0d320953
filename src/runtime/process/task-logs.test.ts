import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LogLine } from '../runtime.ts';
import { TaskLogs } from './task-logs.ts';

const running = { exited: () => false, gone: () => false };

async function next(it: AsyncIterator<LogLine>): Promise<string> {
  const r = await it.next();
  assert.equal(r.done, false);
  return r.value.text;
}

test('a follower begun while a line is half written reads it whole, once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-task-logs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const logs = new TaskLogs(dir, { maxBytes: 1 << 20, keep: 1 });
  await writeFile(logs.path('stdout'), 'one\n{"n":1,"le');
  const ac = new AbortController();
  const it = logs.read({ follow: true, signal: ac.signal }, running)[Symbol.asyncIterator]();
  t.after(async () => {
    ac.abort();
    await it.return?.(undefined); // closes the follower's directory watch
  });
  assert.equal(await next(it), 'one');
  await appendFile(logs.path('stdout'), 'vel":"info"}\ntwo\n');
  assert.equal(await next(it), '{"n":1,"level":"info"}');
  assert.equal(await next(it), 'two');
});

test('with tail, the half-written line is not counted as one of the last lines', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-task-logs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const logs = new TaskLogs(dir, { maxBytes: 1 << 20, keep: 1 });
  await writeFile(logs.path('stdout'), 'one\ntwo\nthr');
  const ac = new AbortController();
  const it = logs.read({ follow: true, tail: 1, signal: ac.signal }, running)[Symbol.asyncIterator]();
  t.after(async () => {
    ac.abort();
    await it.return?.(undefined); // closes the follower's directory watch
  });
  assert.equal(await next(it), 'two');
  await appendFile(logs.path('stdout'), 'ee\n');
  assert.equal(await next(it), 'three');
});

test("an exited task's unterminated last line still comes, once", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-task-logs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const logs = new TaskLogs(dir, { maxBytes: 1 << 20, keep: 1 });
  await writeFile(logs.path('stdout'), 'one\nlast');
  const lines: string[] = [];
  const hooks = { exited: () => true, gone: () => lines.includes('last') };
  for await (const l of logs.read({ follow: true }, hooks)) lines.push(l.text);
  assert.deepEqual(lines, ['one', 'last']);
});
