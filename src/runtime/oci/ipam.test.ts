/**
 * The address file across a change of subnet (the default 10.88.0.0/16 of an older agent, then
 * the host's /24 from the control plane, and back): addresses in the new range stay held by their
 * tasks and are never handed out again; the others are dropped.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ipam, parseSubnet } from './ipam.ts';

test('a changed subnet keeps the allocations inside it, drops the rest, never reuses one in use', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-ipam-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'ipam.json');
  await writeFile(
    file,
    JSON.stringify({
      subnet: '10.88.0.0/16',
      cursor: 7,
      allocations: {
        '10.88.0.2': 'in-a',
        '10.88.0.3': 'in-b',
        '10.88.0.4': 'in-c',
        '10.88.5.7': 'out-a',
        '10.88.1.2': 'out-b',
      },
    }),
  );
  const narrow = new Ipam(file, parseSubnet('10.88.0.0/24'));
  assert.deepEqual(await narrow.list(), { '10.88.0.2': 'in-a', '10.88.0.3': 'in-b', '10.88.0.4': 'in-c' });
  // New tasks get addresses nobody holds; the holders keep theirs.
  const fresh = await Promise.all(['n1', 'n2', 'n3'].map((o) => narrow.allocate(o)));
  assert.deepEqual(fresh, ['10.88.0.5', '10.88.0.6', '10.88.0.7']);
  assert.equal(await narrow.allocate('in-b'), '10.88.0.3');
  // The file now says the new subnet, and the dropped ones are gone from it.
  const saved = JSON.parse(await readFile(file, 'utf8')) as {
    subnet: string;
    allocations: Record<string, string>;
  };
  assert.equal(saved.subnet, '10.88.0.0/24');
  assert.equal(saved.allocations['10.88.5.7'], undefined);
  assert.equal(Object.keys(saved.allocations).length, 6);
  // A freed address in the range is given out again only after the others.
  await narrow.release('10.88.0.3', 'in-b');
  assert.equal(await narrow.allocate('n4'), '10.88.0.8');

  // Another range altogether (the host moved): nothing of the old one is kept.
  const moved = new Ipam(file, parseSubnet('10.88.9.0/24'));
  assert.deepEqual(await moved.list(), {});
  assert.equal(await moved.allocate('m1'), '10.88.9.2');

  // Widening again keeps what is inside.
  const wide = new Ipam(file, parseSubnet('10.88.0.0/16'));
  assert.deepEqual(await wide.list(), { '10.88.9.2': 'm1' });
  assert.equal(wide.contains('10.88.200.1'), true);
  assert.equal(wide.contains('10.89.0.1'), false);
  assert.equal(wide.contains('not-an-ip'), false);
});

test('a burst of allocations is one read-modify-write: distinct addresses, and only the overflow fails', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-ipam-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'ipam.json');
  // A /29: 5 addresses for tasks (minus network, gateway, broadcast).
  const ipam = new Ipam(file, parseSubnet('10.77.0.0/29'));
  const owners = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  const results = await Promise.allSettled(owners.map((o) => ipam.allocate(o)));
  const given = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  assert.equal(new Set(given).size, 5, JSON.stringify(given));
  const refused = results.filter((r) => r.status === 'rejected');
  assert.equal(refused.length, 2);
  for (const r of refused) assert.match(String(r.reason), /no free address left/);
  const saved = JSON.parse(await readFile(file, 'utf8')) as { allocations: Record<string, string> };
  assert.deepEqual(Object.values(saved.allocations).sort(), ['a', 'b', 'c', 'd', 'e']);
  // Releases and allocations asked together: each sees those before it.
  const [, , again] = await Promise.all([
    ipam.releaseOwner('a'),
    ipam.release(given[1] ?? '', 'b'),
    ipam.allocate('h'),
  ]);
  assert.ok(again === given[0] || again === given[1], again);
  assert.deepEqual(Object.values(await ipam.list()).sort(), ['c', 'd', 'e', 'h']);
});
