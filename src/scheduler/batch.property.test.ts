/**
 * Property tests of batch jobs and preemption, checked against rules stated independently of the
 * code: random completions, parallelism, retry limits and failure patterns (index i fails its first
 * f_i runs), plans sometimes written only in part; random hosts, batch tasks and service needs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { HostView } from '../model/index.ts';
import { BatchWorld, batchJob } from './batch-fixtures.ts';
import { hostView } from './fixtures.ts';
import { planPreemption, type PreemptionCandidate } from './preemption.ts';

const NUM_RUNS = Number(process.env['DABBA_PROPERTY_RUNS'] ?? 150);

test('batch: parallelism and one run per index hold at every step; the outcome follows the failure pattern', () => {
  const scenario = fc.record({
    completions: fc.integer({ min: 1, max: 12 }),
    parallelism: fc.integer({ min: 1, max: 6 }),
    retryLimit: fc.integer({ min: 0, max: 3 }),
    failures: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 12, maxLength: 12 }),
    partial: fc.array(fc.boolean(), { minLength: 200, maxLength: 200 }),
    hosts: fc.integer({ min: 1, max: 3 }),
  });
  fc.assert(
    fc.property(scenario, (p) => {
      const w = new BatchWorld(
        batchJob({
          completions: p.completions,
          parallelism: p.parallelism,
          retryLimit: p.retryLimit,
          backoffMs: 100,
          maxBackoffMs: 400,
        }),
        p.hosts,
        2,
      );
      const failsOf = (i: number): number => p.failures[i] ?? 0;
      const runs = new Map<number, number>(); // index -> runs ended so far
      for (let step = 0; step < 200 && w.deployment?.state !== 'succeeded'; step++) {
        if (w.deployment?.state === 'failed') break;
        const plan = w.decide();
        w.apply(plan, p.partial[step] === true && plan.deployment !== undefined);
        const live = w.live();
        assert.ok(live.length <= p.parallelism, `step ${step}: ${live.length} > parallelism`);
        const held = live.map((t) => t.batch!.index);
        assert.equal(new Set(held).size, held.length, `step ${step}: two runs of one index`);
        // The agent: every placed task that has not ended ends now, by the pattern.
        for (const t of live) {
          if (t.host === null || t.status !== undefined) continue;
          const i = t.batch!.index;
          const n = runs.get(i) ?? 0;
          runs.set(i, n + 1);
          w.exit(t.id, n < failsOf(i) ? 1 : 0);
        }
        w.now += 100;
      }
      const indexes = Array.from({ length: p.completions }, (_, i) => i);
      const shouldSucceed = indexes.every((i) => failsOf(i) <= p.retryLimit);
      assert.equal(w.deployment?.state, shouldSucceed ? 'succeeded' : 'failed');
      if (shouldSucceed) {
        assert.equal(w.deployment.batch?.succeeded, p.completions);
        assert.equal(
          w.deployment.batch.failed,
          indexes.reduce((a, i) => a + failsOf(i), 0),
        );
      }
      // What the record counts is what the agent ran: no run counted twice, none left out.
      for (const [i, x] of (w.deployment.batch?.indexes ?? []).entries()) {
        const ended = runs.get(i) ?? 0;
        const counted = x.failures + (x.outcome === 'succeeded' ? 1 : 0);
        assert.ok(counted <= ended, `index ${i}: counted ${counted} runs of ${ended}`);
      }
      // One more pass written whole (the last may have been written only in part): nothing is left.
      w.apply(w.decide());
      assert.equal(w.tasks.size, 0, 'nothing is left once the job is finished');
    }),
    { numRuns: NUM_RUNS },
  );
});

test('preemption: only batch tasks, lowest priority first, capacity never exceeded, nothing needless', () => {
  const scenario = fc.record({
    hosts: fc.array(
      fc.record({ cpu: fc.integer({ min: 1, max: 8 }), used: fc.integer({ min: 0, max: 4 }) }),
      {
        minLength: 1,
        maxLength: 5,
      },
    ),
    batch: fc.array(
      fc.record({
        host: fc.nat(4),
        cpu: fc.integer({ min: 1, max: 3 }),
        priority: fc.integer({ min: 0, max: 3 }),
      }),
      { maxLength: 12 },
    ),
    needs: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
  });
  fc.assert(
    fc.property(scenario, (p) => {
      // Hosts carry a service's own usage (`used`, never preemptible) plus the batch tasks there.
      const candidates: PreemptionCandidate[] = [];
      const hosts: HostView[] = p.hosts.map((h, i) =>
        hostView(`h${i}`, { cpu: h.cpu, allocated: { cpu: 0 } }),
      );
      const used = new Map<string, number>();
      for (const [i, h] of p.hosts.entries()) {
        const view = hosts[i]!;
        view.allocated.cpu = Math.min(h.used, h.cpu);
        used.set(view.id, view.allocated.cpu);
      }
      for (const [n, b] of p.batch.entries()) {
        const h = hosts[b.host % hosts.length]!;
        if (h.allocated.cpu + b.cpu > h.capacity.cpu) continue;
        h.allocated.cpu += b.cpu;
        candidates.push({
          id: `b${n}`,
          job: `batch${b.priority}`,
          host: h.id,
          resources: { cpu: b.cpu, memoryBytes: 0, pids: 0 },
          priority: b.priority,
          createdAt: n,
        });
      }
      const needs = p.needs.map((cpu, n) => ({ id: `s${n}`, resources: { cpu, memoryBytes: 0, pids: 0 } }));
      const job = { name: 'web', version: 1, placement: { spread: [], constraints: [] }, ports: [] };
      const out = planPreemption({ job, needs, hosts, candidates });

      const byId = new Map(candidates.map((c) => [c.id, c]));
      const victims = out.flatMap((o) => o.victims);
      assert.equal(new Set(victims.map((v) => v.id)).size, victims.length, 'a victim is chosen once');
      for (const v of victims) assert.ok(byId.has(v.id), `${v.id} is not a batch task`);
      // After the victims leave and the needs arrive, no host holds more than its capacity.
      const load = new Map(hosts.map((h) => [h.id, h.allocated.cpu]));
      for (const v of victims) load.set(v.host, (load.get(v.host) ?? 0) - v.resources.cpu);
      for (const o of out) {
        const need = needs.find((n) => n.id === o.task)!;
        load.set(o.host, (load.get(o.host) ?? 0) + need.resources.cpu);
        assert.ok(
          o.victims.every((v) => v.host === o.host),
          'victims are on the host given',
        );
      }
      for (const h of hosts)
        assert.ok((load.get(h.id) ?? 0) <= h.capacity.cpu + 1e-9, `${h.id} over capacity`);
      // Lowest priority first: on a host, every batch task kept ranks at least as high as any victim.
      for (const h of hosts) {
        const gone = victims.filter((v) => v.host === h.id);
        if (gone.length === 0) continue;
        const kept = candidates.filter((c) => c.host === h.id && !gone.some((v) => v.id === c.id));
        const top = Math.max(...gone.map((v) => v.priority));
        assert.ok(
          kept.every((c) => c.priority >= top),
          `${h.id}: a lower-priority task was kept`,
        );
      }
      // Nothing needless: a need that fits somewhere as things are preempts nothing; one that fits
      // nowhere even with every batch task gone gets nothing.
      const first = needs[0]!;
      const firstOut = out.find((o) => o.task === first.id);
      if (hosts.some((h) => h.capacity.cpu - h.allocated.cpu >= first.resources.cpu))
        assert.equal(firstOut?.victims.length ?? 0, 0, 'preempted although it fitted');
      if (hosts.every((h) => h.capacity.cpu - (used.get(h.id) ?? 0) < first.resources.cpu))
        assert.equal(firstOut, undefined, 'placed where it cannot fit');
    }),
    { numRuns: NUM_RUNS },
  );
});
