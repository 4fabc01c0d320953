import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keepTail } from './previous-log.ts';

test('keepTail keeps the last bytes from a line start, and an empty file for a missing log', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-prev-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lines = Array.from({ length: 100 }, (_, i) => `line ${String(i).padStart(3, '0')}`);
  await writeFile(join(dir, 'a.log'), lines.join('\n') + '\n');
  await keepTail(join(dir, 'a.log'), join(dir, 'all.log'));
  assert.equal(await readFile(join(dir, 'all.log'), 'utf8'), lines.join('\n') + '\n');
  // 9 bytes per line: 50 bytes cut into line 94, which is dropped.
  await keepTail(join(dir, 'a.log'), join(dir, 'tail.log'), 50);
  assert.equal(await readFile(join(dir, 'tail.log'), 'utf8'), lines.slice(95).join('\n') + '\n');
  await keepTail(join(dir, 'missing.log'), join(dir, 'none.log'));
  assert.equal(await readFile(join(dir, 'none.log'), 'utf8'), '');
});
