import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  formatCidr,
  formatIpv4,
  isPrivateRange,
  parseCidr,
  parseIpv4,
  rangeContains,
  rangeHas,
  rangesOverlap,
} from './ipv4.ts';

test('addresses: parse and format round-trip; bad text is undefined', () => {
  assert.equal(parseIpv4('10.88.3.7'), 10 * 2 ** 24 + 88 * 2 ** 16 + 3 * 256 + 7);
  assert.equal(parseIpv4('255.255.255.255'), 2 ** 32 - 1);
  for (const bad of ['10.88.3', '10.88.3.256', '10.88.3.x', '10.88.3.7.1', ' 10.0.0.1', '', '1e1.0.0.1'])
    assert.equal(parseIpv4(bad), undefined, bad);
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => parseIpv4(formatIpv4(n)) === n));
});

test('ranges: host bits cleared; contains, has and overlap', () => {
  const r = parseCidr('10.88.3.9/24');
  assert.ok(r);
  assert.equal(formatCidr(r), '10.88.3.0/24');
  for (const bad of ['10.88.3.0', '10.88.3.0/33', '10.88.3.0/2/4', '10.88.3.0/x', 'x/24'])
    assert.equal(parseCidr(bad), undefined, bad);
  const net = parseCidr('10.88.0.0/16');
  assert.ok(net);
  assert.ok(rangeContains(net, r));
  assert.ok(!rangeContains(r, net));
  assert.ok(rangeContains(r, r));
  assert.ok(rangeHas(r, parseIpv4('10.88.3.255') ?? 0));
  assert.ok(!rangeHas(r, parseIpv4('10.88.4.0') ?? 0));
  assert.ok(rangesOverlap(net, r) && rangesOverlap(r, net));
  const other = parseCidr('10.88.4.0/24');
  assert.ok(other && !rangesOverlap(r, other));
});

test('private ranges (RFC 1918) only', () => {
  const yes = ['10.0.0.0/8', '10.88.0.0/16', '172.16.0.0/12', '172.31.255.0/24', '192.168.1.0/24'];
  const no = ['8.8.8.0/24', '172.32.0.0/16', '0.0.0.0/0', '10.0.0.0/7', '192.169.0.0/16'];
  for (const c of yes) assert.ok(isPrivateRange(parseCidr(c) ?? { base: 0, prefix: 0 }), c);
  for (const c of no) assert.ok(!isPrivateRange(parseCidr(c) ?? { base: 0, prefix: 0 }), c);
});
