/**
 * The test runner's check for what a run left behind (scripts/test-leftovers.ts): a namespace and a
 * Dabba nftables table made after the first look are reported with how to remove them, and no
 * longer once removed; the dev cluster's shared bridge is not counted. Needs root (namespaces,
 * nft); DABBA_SKIP_NETNS=1 skips the part that makes them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { leftBehind, machineObjects, removalCommand } from '../../scripts/test-leftovers.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;

test('only what is new counts, less the shared dev bridge; each with its removal command', () => {
  const before = ['netns a', 'link eth0', 'table dabba_x'];
  const after = [...before, 'netns b', 'link dabba0', 'table dabba_dabba0', 'table dabba_dbt1'];
  assert.deepEqual(leftBehind(before, after), ['netns b', 'table dabba_dbt1']);
  assert.equal(removalCommand('netns b'), 'ip netns del b');
  assert.equal(removalCommand('link dbt1'), 'ip link del dbt1');
  assert.equal(removalCommand('table dabba_dbt1'), 'nft delete table inet dabba_dbt1');
});

test('a namespace and a table made meanwhile are found, and gone once removed', { skip }, () => {
  const id = randomBytes(4).toString('hex');
  const ns = `dabba-leftover-${id}`;
  const table = `dabba_leftover_${id}`;
  const before = machineObjects();
  try {
    assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
    assert.equal(spawnSync('nft', ['add', 'table', 'inet', table]).status, 0);
    // Other test files run meanwhile and make their own: only these two are looked for.
    const left = leftBehind(before, machineObjects());
    assert.ok(left.includes(`netns ${ns}`), left.join(', '));
    assert.ok(left.includes(`table ${table}`), left.join(', '));
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    spawnSync('nft', ['delete', 'table', 'inet', table]);
  }
  const left = leftBehind(before, machineObjects());
  assert.ok(!left.includes(`netns ${ns}`) && !left.includes(`table ${table}`), left.join(', '));
});
