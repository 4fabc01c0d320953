import assert from 'node:assert/strict';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { rotateIfLarge } from './access-log.ts';

test("the proxy's log is rotated past its size; the writer's descriptor goes on at the new end", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-proxy-log-'));
  const path = join(dir, 'haproxy.log');
  // As HAProxy's stdout: a descriptor opened for appending, kept across the rotation.
  const fd = openSync(path, 'a');
  try {
    assert.equal(await rotateIfLarge(path, 100), false, 'empty: nothing to do');
    for (let i = 0; i < 10; i++) writeSync(fd, `{"line":${i},"pad":"xxxxxxxxxx"}\n`);
    const before = await readFile(path, 'utf8');
    assert.ok(before.length > 100);
    assert.equal(await rotateIfLarge(path, 100), true);
    assert.equal(await readFile(`${path}.1`, 'utf8'), before, 'the old lines are in .1');
    assert.equal((await stat(path)).size, 0);
    writeSync(fd, '{"line":10}\n');
    assert.equal(await readFile(path, 'utf8'), '{"line":10}\n', 'new lines start the file again');
    assert.equal(await rotateIfLarge(path, 100), false, 'small again');
    assert.equal(await rotateIfLarge(join(dir, 'absent.log'), 100), false, 'an absent log is no error');
  } finally {
    closeSync(fd);
    await rm(dir, { recursive: true, force: true });
  }
});
