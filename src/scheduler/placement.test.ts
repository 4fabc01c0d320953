import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostView, ids, jobRecord, jobSpec, Mi } from './fixtures.ts';
import { allocatorPlacement, spreadPlacement } from './placement.ts';
import { reconcile } from './reconcile.ts';

const small = { cpu: 0.1, memoryBytes: 10 * Mi, pids: 1 };

test('fractional cpu adds up without rounding trouble', () => {
  const placer = spreadPlacement([hostView('h1', { cpu: 0.3 })], new Map());
  assert.deepEqual(
    [placer.place(small), placer.place(small), placer.place(small)],
    [{ host: 'h1' }, { host: 'h1' }, { host: 'h1' }],
  );
  const fourth = placer.place(small);
  assert.equal(fourth.host, null);
});

test('a placer never hands out the same capacity twice', () => {
  const placer = spreadPlacement(
    [hostView('h1', { memoryBytes: 25 * Mi }), hostView('h2', { memoryBytes: 15 * Mi })],
    new Map(),
  );
  assert.deepEqual(
    [placer.place(small), placer.place(small), placer.place(small)].map((r) => r.host),
    ['h1', 'h2', 'h1'],
  );
  const r = placer.place(small);
  assert.equal(r.host, null);
  assert.equal(
    'reason' in r && r.reason,
    'no host fits: needs cpu 0.1, memory 10Mi, pids 1; 2 hosts: h1 has 5Mi memory free (too little memory); h2 has 5Mi memory free (too little memory)',
  );
});

test('large fleets: five hosts by name, the rest summarised', () => {
  const hosts = [
    ...Array.from({ length: 8 }, (_, i) => hostView(`a${i}`, { memoryBytes: Mi })),
    hostView('z1', { state: 'down' }),
    hostView('z2', { state: 'cordoned' }),
  ];
  const r = spreadPlacement(hosts, new Map()).place(small);
  assert.equal(
    'reason' in r && r.reason,
    'no host fits: needs cpu 0.1, memory 10Mi, pids 1; 10 hosts: a0 has 1Mi memory free (too little memory); ' +
      'a1 has 1Mi memory free (too little memory); a2 has 1Mi memory free (too little memory); ' +
      'a3 has 1Mi memory free (too little memory); a4 has 1Mi memory free (too little memory); ' +
      'and 5 more (1 cordoned, 1 down, 3 too little memory)',
  );
});

test('no hosts at all', () => {
  const r = spreadPlacement([], new Map()).place(small);
  assert.deepEqual(r, {
    host: null,
    reason: 'no host fits: needs cpu 0.1, memory 10Mi, pids 1; no hosts registered',
  });
});

test("the job's existing tasks steer the spread", () => {
  const placer = spreadPlacement([hostView('h1'), hostView('h2')], new Map([['h1', 2]]));
  assert.deepEqual(
    [placer.place(small), placer.place(small), placer.place(small)].map((r) => r.host),
    ['h2', 'h2', 'h1'],
  );
});

test("the default strategy is the allocator: the job's constraints and spread hold", () => {
  const spec = {
    ...jobSpec({ replicas: 4 }),
    placement: {
      spread: [{ attribute: 'rack' }],
      constraints: [{ attribute: 'region', equals: 'prn' }],
    },
  };
  const labelled = (id: string, rack: string, region: string) => ({
    ...hostView(id),
    labels: { rack, region },
  });
  const hosts = [
    labelled('a1', 'r1', 'prn'),
    labelled('a2', 'r1', 'prn'),
    labelled('b1', 'r2', 'prn'),
    labelled('b2', 'r2', 'prn'),
    labelled('c1', 'r3', 'ash'),
  ];
  const plan = reconcile({
    job: jobRecord(spec),
    versions: [],
    tasks: [],
    hosts,
    deployment: undefined,
    now: 0,
    newTaskId: ids(),
  });
  assert.deepEqual(
    plan.create.map((t) => t.host),
    ['a1', 'b1', 'a2', 'b2'],
  );
});

test('allocatorPlacement: an unplaced result carries the structured explanation and names the task', () => {
  const placer = allocatorPlacement([hostView('h1', { cpu: 2 })], new Map(), {
    name: 'web',
    version: 3,
    placement: { spread: [], constraints: [] },
    ports: [],
  });
  const r = placer.place({ cpu: 4, memoryBytes: Mi, pids: 1 }, 'web-abc');
  assert.equal(r.host, null);
  assert.ok('explanation' in r && r.explanation !== undefined);
  assert.equal(r.explanation.task, 'web-abc');
  assert.equal(r.reason, r.explanation.summary);
  assert.deepEqual(r.explanation.suggestions, ['needs 4 CPUs; the largest free is 2 on host h1']);
});
