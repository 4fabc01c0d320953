/**
 * Batched `ip` runs with the real `ip` (root): groups asked together share runs, a group whose line
 * fails is refused alone with ip's message for it, the others are made; and the parsing of ip's
 * "Command failed -:N" lines.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { failedLines, IpBatcher } from './ip-batch.ts';
import { listNetns } from './network.ts';
import { runTool } from './tool.ts';

test('failedLines names each failed line with the messages before it', () => {
  const m = failedLines(
    'Cannot create namespace file "/run/netns/x": File exists\nCommand failed -:1\nRTNETLINK answers: File exists\nCommand failed -:5\n',
  );
  assert.deepEqual(
    [...m],
    [
      [1, 'Cannot create namespace file "/run/netns/x": File exists'],
      [5, 'RTNETLINK answers: File exists'],
    ],
  );
});

test(
  'concurrent groups share ip runs; a failing group fails alone',
  { skip: process.getuid?.() !== 0 ? 'needs root' : false },
  async (t) => {
    const tag = randomBytes(3).toString('hex');
    const names = Array.from({ length: 6 }, (_, i) => `ipb-${tag}-${i}`);
    t.after(async () => {
      for (const n of names) await runTool('ip', ['netns', 'del', n]);
    });
    let runs = 0;
    const batcher = new IpBatcher((lines) => {
      runs++;
      return runTool('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n` });
    });
    // Group 3 asks for a namespace group 2 makes: refused; the others are made.
    const groups = names.map((n, i) => [`netns add ${i === 3 ? names[2] : n}`]);
    const results = await Promise.allSettled(groups.map((g) => batcher.run(g)));
    assert.ok(runs < names.length, `${runs} ip runs for ${names.length} groups`);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    assert.match(String((results[3] as PromiseRejectedResult).reason), /File exists/);
    const present = new Set(await listNetns());
    for (const [i, n] of names.entries()) assert.equal(present.has(n), i !== 3, n);
  },
);
