import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate, formatExplanation } from './index.ts';
import { asks, host, placement } from './test-fixtures.ts';

test('no hosts: the summary says so and suggests registering one', () => {
  const e = allocate({ hosts: [], seed: 1, tasks: asks('web', 1) }).failures.get('web-1');
  assert.deepEqual(e, {
    job: 'web',
    task: 'web-1',
    needs: { cpu: 1, memoryBytes: 64 * 1024 * 1024, pids: 10, ports: [] },
    hosts: 0,
    filters: [
      { filter: 'host-state', rejected: 0, reasons: [] },
      { filter: 'resources-fit', rejected: 0, reasons: [] },
    ],
    nearest: [],
    suggestions: ['register a host (dabba agent) or check that the agents are alive'],
    summary: 'no host fits cpu 1, memory 64Mi, pids 10: no hosts registered',
  });
});

test('when no filter stands alone in the way, the nearest host and all it fails', () => {
  const hosts = [host('a', { state: 'cordoned', cpu: 0.5 }), host('b', { state: 'down', cpu: 0.25 })];
  const e = allocate({ hosts, seed: 1, tasks: asks('web', 1) }).failures.get('web-1');
  assert.deepEqual(e?.suggestions, ['the nearest host, a, fails cordoned and too little cpu']);
  assert.deepEqual(
    e.nearest.map((n) => n.host),
    ['a', 'b'],
  );
});

test('the summary shows six reason groups and sums up the rest', () => {
  const hosts = [
    host('s1', { state: 'down', labels: { zone: 'z' } }),
    host('s2', { state: 'cordoned', labels: { zone: 'z' } }),
    host('s3', { state: 'draining', labels: { zone: 'z' } }),
    host('c1', { labels: { zone: 'a' } }),
    host('c2', { labels: { zone: 'b' } }),
    host('c3', {}),
    host('r1', { labels: { zone: 'z' }, cpu: 0.5 }),
    host('r2', { labels: { zone: 'z' }, cpu: 0.5, pids: 1 }),
  ];
  const e = allocate({
    hosts,
    seed: 1,
    tasks: asks('web', 1, { placement: placement({ constraints: [{ attribute: 'zone', in: ['z'] }] }) }),
  }).failures.get('web-1');
  assert.ok(e);
  assert.equal(
    e.summary,
    'no host fits cpu 1, memory 64Mi, pids 10: of 8 hosts, 1 cordoned, 1 down, 1 draining, 2 not zone in [z], ' +
      '1 without zone, 1 too little cpu, 1 for 1 other reason; ' +
      '3 hosts would fit if ready: s1 (down), s2 (cordoned), s3 (draining); ' +
      '3 hosts would fit without the constraint zone in [z]: c1, c2, c3; ' +
      'needs 1 CPU; the largest free is 0.5 on host r1',
  );
  const total = e.filters.reduce((n, f) => n + f.rejected, 0);
  assert.equal(total, e.hosts);
});

test('formatExplanation: one line of summary, then filters, nearest fits and what would make it fit', () => {
  const hosts = [host('h1', { cpu: 2 }), host('h2', { state: 'down' })];
  const e = allocate({ hosts, seed: 1, tasks: asks('big', 1, { cpu: 4 }) }).failures.get('big-1');
  assert.ok(e);
  assert.deepEqual(formatExplanation(e), [
    `task big-1 of big: ${e.summary}`,
    '  host-state: rejected 1 host',
    '    1 down (h2)',
    '  resources-fit: rejected 1 host',
    '    1 too little cpu (h1)',
    '  nearest fits:',
    '    h1: too little cpu (short 2 cpu)',
    '    h2: down',
    '  to fit: 1 host would fit if ready: h2 (down)',
    '  to fit: needs 4 CPUs; the largest free is 2 on host h1',
  ]);
});

test('ports that must be free show in the needs', () => {
  const e = allocate({
    hosts: [host('a')],
    seed: 1,
    tasks: asks('web', 1, {
      cpu: 9,
      uniquePorts: true,
      ports: [{ name: 'http', port: 80, protocol: 'tcp' }],
    }),
  }).failures.get('web-1');
  assert.match(e?.summary ?? '', /^no host fits cpu 9, memory 64Mi, pids 10, ports 80: /);
});
