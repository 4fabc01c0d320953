import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { rotateIfLarge } from './access-log.ts';
import { AccessLogTail } from './access-tail.ts';

const line = (o: Record<string, unknown>): string =>
  `${JSON.stringify({ backend: 'be_a__b', server: 's1', termination: '--', total_ms: 3, ...o })}\n`;

test('the access log tail: from the end at start, partial lines, rotation, timeouts apart from queue timeouts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-access-tail-'));
  const path = join(dir, 'haproxy.log');
  try {
    await writeFile(path, line({ total_ms: 9999 }));
    const tail = new AccessLogTail(path);
    await tail.catchUp();
    assert.equal(tail.counts.size, 0, 'what was there before is not counted');
    await appendFile(path, line({}) + line({ termination: 'sQ', server: '<NOSRV>', total_ms: 100 }));
    await appendFile(path, '[NOTICE] (1) : New worker forked\n' + line({ termination: 'sH' }).slice(0, 20));
    await tail.catchUp();
    assert.equal(tail.counts.get('be_a__b')?.latency.count, 2);
    assert.equal(tail.counts.get('be_a__b')?.queueTimeouts, 1);
    assert.equal(tail.counts.get('be_a__b/s1')?.latency.count, 1, 'a request with no server counts once');
    assert.equal(tail.skipped, 1, 'the notice');
    // The rest of the cut line, then the log rotated (copied to .1, truncated) before we read again.
    await appendFile(path, line({ termination: 'sH' }).slice(20) + line({ total_ms: 20_000 }));
    assert.equal(await rotateIfLarge(path, 10), true);
    await appendFile(path, line({ total_ms: 0 }));
    await tail.catchUp();
    const c = tail.counts.get('be_a__b');
    assert.equal(c?.latency.count, 5, 'the lines in .1 after our offset and the new ones');
    assert.equal(c?.timeouts, 1);
    assert.equal(c?.queueTimeouts, 1);
    assert.equal(c?.latency.maxMs, 20_000);
    assert.equal(c?.latency.buckets.at(-1), 1, 'above every bound');
    assert.equal(c?.latency.buckets[0], 1, '0 ms: <= 1 ms');
    assert.equal(c?.latency.buckets[2], 2, 'the two of 3 ms: <= 5 ms');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
