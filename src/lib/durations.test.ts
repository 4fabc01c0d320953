import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from './durations.ts';
import { formatSize, parseSize } from './sizes.ts';
import { backoffDelay } from './backoff.ts';

test('parseDuration accepts units and compounds', () => {
  assert.deepEqual(parseDuration('2s'), { ok: true, ms: 2000 });
  assert.deepEqual(parseDuration('250ms'), { ok: true, ms: 250 });
  assert.deepEqual(parseDuration('1h30m'), { ok: true, ms: 5_400_000 });
  assert.deepEqual(parseDuration('1.5s'), { ok: true, ms: 1500 });
  assert.deepEqual(parseDuration('0'), { ok: true, ms: 0 });
});

test('parseDuration refuses bare numbers and junk', () => {
  for (const bad of ['5', '', 's', '2 s', '2x', '-1s', '1s2', 'abc']) {
    assert.equal(parseDuration(bad).ok, false, bad);
  }
});

test('parseSize accepts binary and decimal units', () => {
  assert.deepEqual(parseSize('64Mi'), { ok: true, bytes: 64 * 1024 * 1024 });
  assert.deepEqual(parseSize('1G'), { ok: true, bytes: 1e9 });
  assert.deepEqual(parseSize('1024'), { ok: true, bytes: 1024 });
  for (const bad of ['64mb', '-1Mi', 'Mi', '1.2.3Gi', '64 Mi', '99999999999999Ti']) {
    assert.equal(parseSize(bad).ok, false, bad);
  }
});

test('format helpers', () => {
  assert.equal(formatSize(64 * 1024 * 1024), '64Mi');
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(125_000), '2m5s');
});

test('backoff grows exponentially and is capped', () => {
  const o = { initialMs: 100, maxMs: 1000 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, o)),
    [100, 200, 400, 800, 1000, 1000],
  );
});
