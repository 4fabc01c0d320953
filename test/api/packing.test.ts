/**
 * Many jobs submitted at once onto a small fleet through the real server and SQLite store: plans
 * of several jobs are written together (their placements reserved until seen), so this checks that
 * no capacity is handed out twice and that what does not fit waits with its explanation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestServer } from '../helpers/api-server.ts';

test('jobs submitted together fill the fleet exactly; the rest wait, explained', async (t) => {
  const server = await startTestServer('packing');
  t.after(() => server.close());
  const { client } = server;

  // 6 hosts of 2 CPUs: room for 24 tasks of 0.5 CPU.
  for (let i = 0; i < 6; i++) {
    await client.registerHost({
      id: `p${i}`,
      labels: { rack: `r${i % 2}` },
      capacity: { cpu: 2, memoryBytes: 8 * 2 ** 30, pids: 10_000 },
      runtime: 'process',
    });
  }
  // 16 jobs asking for 40 tasks in all, submitted at once.
  const sizes = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4];
  await Promise.all(
    sizes.map((replicas, i) =>
      client.putJob(`j${i}`, {
        name: `j${i}`,
        replicas,
        task: { command: ['sleep', '100'], resources: { cpu: 0.5, memory: '64Mi' } },
        ...(i % 2 === 0 ? { placement: { spread: [{ attribute: 'rack' }] } } : {}),
      }),
    ),
  );
  const total = sizes.reduce((a, b) => a + b, 0);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const views = await Promise.all(sizes.map((_, i) => client.getJob(`j${i}`)));
    const tasks = views.flatMap((v) => v.tasks);
    const placed = tasks.filter((x) => x.host !== null);
    const waiting = tasks.filter((x) => x.host === null);
    if (tasks.length === total && placed.length === 24 && waiting.every((x) => x.explanation !== null)) {
      const perHost = new Map<string, number>();
      for (const x of placed) perHost.set(x.host ?? '', (perHost.get(x.host ?? '') ?? 0) + 1);
      assert.deepEqual([...perHost.values()].sort(), [4, 4, 4, 4, 4, 4], 'every host full, none over');
      for (const x of waiting) assert.match(x.unplaced ?? '', /too little cpu/);
      break;
    }
    assert.ok(
      Date.now() < deadline,
      `not settled: ${tasks.length}/${total} tasks, ${placed.length} placed (want 24), ${waiting.length} waiting`,
    );
    await new Promise((r) => setTimeout(r, 100));
  }
  // The hosts' own accounting agrees: nothing allocated beyond capacity.
  for (const h of await client.hosts()) assert.ok(h.allocated.cpu <= h.capacity.cpu + 1e-9, `${h.id} over`);
});
