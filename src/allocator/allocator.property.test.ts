/**
 * Property tests: random fleets (states, labels, capacities, allocations, ports in use) and random
 * jobs (resources, constraints, spread rules with and without min, distinct hosts, unique ports,
 * existing tasks), checked against independent reference rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Constraint, HostView, SpreadSpec } from '../model/index.ts';
import { allocate, type AllocateOptions, type PlacementAsk } from './index.ts';
import { Gi, host } from './test-fixtures.ts';

const NUM_RUNS = Number(process.env['DABBA_PROPERTY_RUNS'] ?? 200);
const EPS = 1e-6;

const value = (prefix: string, n: number) =>
  fc.option(
    fc.integer({ min: 0, max: n - 1 }).map((i) => `${prefix}${i}`),
    { nil: undefined },
  );

const hostArb = fc.record({
  state: fc.constantFrom<HostView['state']>('ready', 'ready', 'ready', 'cordoned', 'draining', 'down'),
  rack: value('r', 5),
  zone: value('z', 3),
  cpu: fc.integer({ min: 0, max: 32 }).map((q) => q / 4),
  memGi: fc.integer({ min: 0, max: 16 }),
  pids: fc.integer({ min: 0, max: 200 }),
  used: fc.float({ min: 0, max: Math.fround(1.2), noNaN: true }),
  runtime: fc.constantFrom('process', 'oci'),
  ports: fc.subarray([80, 443, 8080]),
});

const constraintArb: fc.Arbitrary<Constraint> = fc.oneof(
  fc.record({ attribute: fc.constantFrom('rack', 'zone'), equals: fc.constantFrom('r0', 'r1', 'z0', 'z1') }),
  fc.record({
    attribute: fc.constantFrom('rack', 'zone'),
    in: fc.subarray(['r0', 'r1', 'r2', 'z0', 'z2'], { minLength: 1 }),
  }),
  fc.record({
    attribute: fc.constantFrom('rack', 'zone', 'host.runtime'),
    not: fc.constantFrom('r0', 'z1', 'oci'),
  }),
  fc.record({
    attribute: fc.constantFrom('rack', 'host.id'),
    regex: fc.constantFrom('[0-2]', '^h1', '3$', 'r'),
  }),
);

const spreadArb: fc.Arbitrary<SpreadSpec[]> = fc
  .subarray(['rack', 'zone'])
  .chain((attrs) =>
    fc.tuple(
      ...attrs.map((a) =>
        fc
          .option(fc.integer({ min: 1, max: 4 }), { nil: undefined })
          .map((min) => (min === undefined ? { attribute: a } : { attribute: a, min })),
      ),
    ),
  );

const jobArb = fc.record({
  count: fc.integer({ min: 1, max: 12 }),
  cpu: fc.integer({ min: 0, max: 16 }).map((q) => q / 4),
  memGi: fc.integer({ min: 0, max: 4 }),
  pids: fc.integer({ min: 0, max: 50 }),
  constraints: fc.array(constraintArb, { maxLength: 2 }),
  spread: spreadArb,
  distinctHosts: fc.boolean(),
  uniquePorts: fc.boolean(),
  port: fc.constantFrom(80, 443, 8080),
  existing: fc.array(fc.tuple(fc.nat(50), fc.integer({ min: 1, max: 3 })), { maxLength: 3 }),
});

const scenarioArb = fc.record({
  hosts: fc.array(hostArb, { maxLength: 40 }),
  jobs: fc.array(jobArb, { minLength: 1, maxLength: 5 }),
  seed: fc.integer(),
  scoring: fc.constantFrom<'spread' | 'binpack'>('spread', 'binpack'),
  sampleSize: fc.constantFrom(1, 3, 32),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function build(s: Scenario): { hosts: HostView[]; tasks: PlacementAsk[]; options: AllocateOptions } {
  const hosts = s.hosts.map((h, i) => {
    const labels: Record<string, string> = {};
    if (h.rack !== undefined) labels['rack'] = h.rack;
    if (h.zone !== undefined) labels['zone'] = h.zone;
    return host(`h${i}`, {
      state: h.state,
      labels,
      runtime: h.runtime,
      cpu: h.cpu,
      memoryBytes: h.memGi * Gi,
      pids: h.pids,
      allocated: {
        cpu: h.cpu * h.used,
        memoryBytes: Math.round(h.memGi * Gi * h.used),
        pids: Math.round(h.pids * h.used),
      },
    });
  });
  const usedPorts = new Map(s.hosts.map((h, i) => [`h${i}`, h.ports]));
  const tasks: PlacementAsk[] = [];
  s.jobs.forEach((j, k) => {
    const job = `job${k}`;
    const resources = { cpu: j.cpu, memoryBytes: j.memGi * Gi, pids: j.pids };
    const placement = { spread: j.spread, constraints: j.constraints };
    const ports = [{ name: 'p', port: j.port, protocol: 'tcp' as const }];
    const perHost = new Map<string, number>();
    for (const [i, n] of j.existing)
      if (i < hosts.length) perHost.set(`h${i}`, (perHost.get(`h${i}`) ?? 0) + n);
    for (let t = 0; t < j.count; t++) {
      tasks.push({
        job,
        task: `${job}-${t}`,
        resources,
        placement,
        ports,
        existing: { perHost },
        distinctHosts: j.distinctHosts,
        uniquePorts: j.uniquePorts,
      });
    }
  });
  return { hosts, tasks, options: { scoring: s.scoring, sampleSize: s.sampleSize, usedPorts } };
}

/** Reference semantics of constraints, written independently of the plugin. */
function holds(c: Constraint, h: HostView): boolean {
  const v =
    c.attribute === 'host.id' ? h.id : c.attribute === 'host.runtime' ? h.runtime : h.labels[c.attribute];
  if ('equals' in c) return v === c.equals;
  if ('in' in c) return v !== undefined && c.in.includes(v);
  if ('not' in c) return v !== c.not;
  return v !== undefined && new RegExp(c.regex, 'u').test(v);
}

function check(s: Scenario): void {
  const { hosts, tasks, options } = build(s);
  const request = { hosts, tasks, seed: s.seed, options };
  const r = allocate(request);
  const byId = new Map(hosts.map((h) => [h.id, h]));

  // Every task is either placed or explained, never both.
  for (const t of tasks) assert.ok(r.placements.has(t.task) !== r.failures.has(t.task), `task ${t.task}`);

  // No host over capacity; only ready hosts; constraints hold.
  const used = new Map(
    hosts.map((h) => [h.id, { cpu: h.allocated.cpu, mem: h.allocated.memoryBytes, pids: h.allocated.pids }]),
  );
  const jobOnHost = new Map<string, number>();
  const portsOnHost = new Map(hosts.map((h) => [h.id, new Set(options.usedPorts?.get(h.id) ?? [])]));
  for (const t of tasks) {
    const id = r.placements.get(t.task);
    if (id === undefined) continue;
    const h = byId.get(id);
    assert.ok(h, `placed on a known host: ${id}`);
    assert.equal(h.state, 'ready');
    for (const c of t.placement?.constraints ?? [])
      assert.ok(holds(c, h), `${t.task} on ${id} breaks ${JSON.stringify(c)}`);
    const u = used.get(id)!;
    u.cpu += t.resources.cpu;
    u.mem += t.resources.memoryBytes;
    u.pids += t.resources.pids;
    const key = `${t.job}/${id}`;
    jobOnHost.set(key, (jobOnHost.get(key) ?? 0) + 1);
    if (t.uniquePorts === true) {
      const ps = portsOnHost.get(id)!;
      for (const p of t.ports ?? []) {
        assert.ok(!ps.has(p.port), `port ${p.port} twice on ${id}`);
        ps.add(p.port);
      }
    }
  }
  for (const h of hosts) {
    const u = used.get(h.id)!;
    if (u.cpu === h.allocated.cpu && u.mem === h.allocated.memoryBytes && u.pids === h.allocated.pids)
      continue;
    assert.ok(u.cpu <= h.capacity.cpu + EPS, `${h.id} cpu ${u.cpu} > ${h.capacity.cpu}`);
    assert.ok(u.mem <= h.capacity.memoryBytes, `${h.id} memory over capacity`);
    assert.ok(u.pids <= h.capacity.pids, `${h.id} pids over capacity`);
  }

  // Distinct hosts (existing tasks count) and spread min.
  const jobs = new Map<string, PlacementAsk[]>();
  for (const t of tasks) jobs.set(t.job, [...(jobs.get(t.job) ?? []), t]);
  for (const [job, list] of jobs) {
    const first = list[0]!;
    const existing = first.existing?.perHost ?? new Map<string, number>();
    if (first.distinctHosts === true) {
      for (const h of hosts) {
        const n = (jobOnHost.get(`${job}/${h.id}`) ?? 0) + (existing.get(h.id) ?? 0);
        if ((jobOnHost.get(`${job}/${h.id}`) ?? 0) > 0) assert.ok(n <= 1, `${job} twice on ${h.id}`);
      }
    }
    const placed = list.map((t) => r.placements.get(t.task)).filter((x) => x !== undefined);
    for (const rule of first.placement?.spread ?? []) {
      if (rule.min === undefined) continue;
      const values = (ids: Iterable<string>) =>
        new Set([...ids].map((id) => byId.get(id)?.labels[rule.attribute]).filter((v) => v !== undefined));
      const before = values([...existing].filter(([, n]) => n > 0).map(([id]) => id)).size;
      const after = values([...existing.keys(), ...placed]).size;
      assert.ok(
        after >= Math.min(rule.min, before + placed.length),
        `${job}: ${rule.attribute} covers ${after} values, min ${rule.min}, ${before} before, ${placed.length} placed`,
      );
    }
  }

  // Every unplaced task is explained, and the counts add up.
  for (const [task, e] of r.failures) {
    assert.equal(e.task, task);
    assert.equal(e.hosts, hosts.length);
    assert.equal(
      e.filters.reduce((n, f) => n + f.rejected, 0),
      hosts.length,
      `${task}: filter counts ${JSON.stringify(e.filters)} vs ${hosts.length} hosts`,
    );
    for (const f of e.filters) {
      assert.notEqual(f.filter, 'none', `${task}: a host passed every filter but was not used`);
      assert.equal(
        f.reasons.reduce((n, g) => n + g.hosts, 0),
        f.rejected,
      );
      for (const g of f.reasons)
        assert.ok(g.examples.length >= 1 && g.examples.length <= Math.min(3, g.hosts));
    }
    assert.ok(e.nearest.length <= Math.min(3, hosts.length));
    assert.ok(e.summary.startsWith('no host fits '));
    if (hosts.length > 0) assert.ok(e.suggestions.length > 0, `${task}: no suggestion`);
  }

  // A failed task (without spread min, whose answer can change) fits nowhere at the end either:
  // sampling never gives up while a host would do.
  const finalFree = (h: HostView) => {
    const u = used.get(h.id)!;
    return {
      cpu: h.capacity.cpu - u.cpu,
      mem: h.capacity.memoryBytes - u.mem,
      pids: h.capacity.pids - u.pids,
    };
  };
  for (const [task] of r.failures) {
    const t = tasks.find((x) => x.task === task)!;
    if ((t.placement?.spread ?? []).some((s) => s.min !== undefined)) continue;
    for (const h of hosts) {
      const f = finalFree(h);
      const fits =
        h.state === 'ready' &&
        (t.placement?.constraints ?? []).every((c) => holds(c, h)) &&
        f.cpu + 1e-9 >= t.resources.cpu &&
        f.mem >= t.resources.memoryBytes &&
        f.pids >= t.resources.pids &&
        (t.distinctHosts !== true ||
          ((jobOnHost.get(`${t.job}/${h.id}`) ?? 0) === 0 && !((t.existing?.perHost.get(h.id) ?? 0) > 0))) &&
        (t.uniquePorts !== true || (t.ports ?? []).every((p) => !portsOnHost.get(h.id)!.has(p.port)));
      assert.ok(!fits, `${task} was not placed but fits ${h.id}`);
    }
  }

  // Same request, same answer.
  const again = allocate(request);
  assert.deepEqual([...again.placements], [...r.placements]);
  assert.deepEqual([...again.failures], [...r.failures]);
}

test('random fleets and jobs: capacity, constraints, spread min, distinct hosts, ports, explanations', () => {
  fc.assert(fc.property(scenarioArb, check), { numRuns: NUM_RUNS });
});

test('a job spread over an attribute with enough room ends up even (exact scoring)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 30 }),
      fc.integer(),
      (racks, perRack, count, seed) => {
        const hosts = Array.from({ length: racks * perRack }, (_, i) =>
          host(`h${i}`, { cpu: 64, labels: { rack: `r${i % racks}` } }),
        );
        const tasks: PlacementAsk[] = Array.from({ length: count }, (_, i) => ({
          job: 'web',
          task: `t${i}`,
          resources: { cpu: 1, memoryBytes: 0, pids: 0 },
          placement: { spread: [{ attribute: 'rack' }], constraints: [] },
        }));
        const r = allocate({ hosts, tasks, seed });
        const counts = new Map<string, number>();
        for (const id of r.placements.values()) {
          const rack = hosts.find((h) => h.id === id)!.labels['rack']!;
          counts.set(rack, (counts.get(rack) ?? 0) + 1);
        }
        const values = [...counts.values()];
        assert.equal(r.placements.size, count);
        assert.ok(
          Math.max(...values) - (values.length < racks ? 0 : Math.min(...values)) <= 1,
          JSON.stringify([...counts]),
        );
      },
    ),
    { numRuns: NUM_RUNS },
  );
});
