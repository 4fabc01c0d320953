/**
 * The distributor takes each host's rack from its host record (`rack` label) and builds the tree
 * with parents in the host's own rack; the tree it shows (`dabba config status`, ConfigTreeView)
 * agrees with the positions it sent the hosts. A real SQLite store holds the host records.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../lib/logger.ts';
import { keys, type HostRecord, type TreePosition } from '../../model/index.ts';
import { SqliteStore } from '../../store/index.ts';
import { Distributor } from './distributor.ts';

function hostRecord(id: string, labels: Record<string, string>): HostRecord {
  return {
    id,
    labels,
    capacity: { cpu: 1, memoryBytes: 1 << 30, pids: 100 },
    schedulable: 'ready',
    runtime: 'process',
    registeredAt: 0,
    lease: 0,
  };
}

test('hosts join in their racks, and the tree shown is the one the hosts were told', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-distracks-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  t.after(() => store.close());
  const hosts: string[] = [];
  for (let i = 0; i < 4; i++)
    for (const r of ['a', 'b']) {
      const id = `${r}${i}`;
      hosts.push(id);
      await store.put(keys.host(id), JSON.stringify(hostRecord(id, { rack: r })));
    }
  // One host with no rack label, one with no record at all: both in the unnamed rack.
  await store.put(keys.host('x0'), JSON.stringify(hostRecord('x0', {})));
  hosts.push('x0', 'y0');

  const dist = new Distributor({ store, logger: silentLogger, ownerId: 'me', fanout: 2 });
  const told = new Map<string, TreePosition>();
  for (const h of hosts) {
    const rack = await dist.rackOf(h);
    dist.join(
      0,
      h,
      `http://${h}`,
      (p) => told.set(h, p),
      () => undefined,
      rack,
    );
  }
  assert.equal(await dist.rackOf('a1'), 'a');
  assert.equal(await dist.rackOf('x0'), undefined);
  assert.equal(await dist.rackOf('y0'), undefined);

  const view = dist.tree(0);
  assert.ok(view);
  assert.equal(view.members.length, hosts.length);
  const byHost = new Map(view.members.map((m) => [m.host, m]));
  // In their own rack: every host but a rack's first has a parent of its rack.
  for (const m of view.members) {
    const parent = m.parent === null ? undefined : byHost.get(m.parent);
    const first = !view.members.some(
      (x) => x.rack === m.rack && hosts.indexOf(x.host) < hosts.indexOf(m.host),
    );
    if (!first) assert.equal(parent?.rack, m.rack, `${m.host} has a parent in its rack`);
  }
  assert.equal(byHost.get('a0')?.parent, null);
  assert.equal(byHost.get('b0')?.parent, 'a0');
  assert.equal(byHost.get('b1')?.parent, 'b0');
  assert.equal(byHost.get('y0')?.parent, 'x0');
  assert.equal(byHost.get('b1')?.rack, 'b');
  // The view agrees with what each host was told last: parent, depth, number of children.
  for (const m of view.members) {
    const p = told.get(m.host);
    assert.ok(p, `${m.host} was told its position`);
    assert.equal(p.parent?.host ?? null, m.parent, `${m.host}'s parent`);
    assert.equal(p.depth, m.depth, `${m.host}'s depth`);
    assert.equal(p.children.length, m.children, `${m.host}'s children`);
  }
  assert.equal(view.depth, Math.max(...view.members.map((m) => m.depth)));
});
