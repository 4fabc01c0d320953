import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate } from '../../index.ts';
import { asks, Gi, host, Mi, perHost } from '../../test-fixtures.ts';

describe('fit', () => {
  test('cpu, memory and pids all count, against capacity minus allocated', () => {
    const hosts = [
      host('cpu', { cpu: 4, allocated: { cpu: 3.5 } }),
      host('mem', { memoryBytes: Gi, allocated: { memoryBytes: Gi - 32 * Mi } }),
      host('pids', { pids: 100, allocated: { pids: 95 } }),
      host('ok', { cpu: 1, memoryBytes: 64 * Mi, pids: 10 }),
    ];
    const r = allocate({ hosts, seed: 1, tasks: asks('j', 1) });
    assert.deepEqual(perHost(r.placements), { ok: 1 });
  });

  test('what the batch placed counts: capacity is never handed out twice', () => {
    const hosts = [host('a', { cpu: 2 }), host('b', { cpu: 1 })];
    const r = allocate({ hosts, seed: 1, tasks: [...asks('x', 2), ...asks('y', 2)] });
    assert.deepEqual(perHost(r.placements), { a: 2, b: 1 });
    assert.equal(r.failures.size, 1);
  });

  test('fractional cpu adds up without rounding trouble', () => {
    const r = allocate({ hosts: [host('h', { cpu: 0.3 })], seed: 1, tasks: asks('j', 4, { cpu: 0.1 }) });
    assert.equal(r.placements.size, 3);
    assert.ok(r.failures.has('j-4'));
  });
});

describe('explanations', () => {
  test('"needs 4 CPUs; the largest free is 2 on host h3"', () => {
    const hosts = [
      host('h1', { cpu: 1 }),
      host('h2', { cpu: 2, allocated: { cpu: 1 } }),
      host('h3', { cpu: 2 }),
    ];
    const r = allocate({ hosts, seed: 1, tasks: asks('big', 1, { cpu: 4 }) });
    const e = r.failures.get('big-1');
    assert.ok(e);
    assert.deepEqual(e.suggestions, ['needs 4 CPUs; the largest free is 2 on host h3']);
    assert.deepEqual(e.filters, [
      { filter: 'host-state', rejected: 0, reasons: [] },
      {
        filter: 'resources-fit',
        rejected: 3,
        reasons: [{ reason: 'too little cpu', hosts: 3, examples: ['h1', 'h2', 'h3'] }],
      },
    ]);
    assert.deepEqual(e.nearest, [
      { host: 'h3', failed: [{ filter: 'resources-fit', reason: 'too little cpu', shortfall: { cpu: 2 } }] },
      { host: 'h1', failed: [{ filter: 'resources-fit', reason: 'too little cpu', shortfall: { cpu: 3 } }] },
      { host: 'h2', failed: [{ filter: 'resources-fit', reason: 'too little cpu', shortfall: { cpu: 3 } }] },
    ]);
    assert.equal(
      e.summary,
      'no host fits cpu 4, memory 64Mi, pids 10: of 3 hosts, 3 too little cpu; needs 4 CPUs; the largest free is 2 on host h3',
    );
  });

  test('short dimensions whose largest free amount is on one host share a sentence', () => {
    const hosts = [
      host('a', { cpu: 1, memoryBytes: Gi }),
      host('b', { cpu: 0.5, memoryBytes: 512 * Mi, pids: 5 }),
    ];
    const r = allocate({ hosts, seed: 1, tasks: asks('j', 1, { cpu: 2, memoryBytes: 2 * Gi, pids: 20 }) });
    assert.deepEqual(r.failures.get('j-1')?.suggestions, [
      'needs 2 CPUs and 2Gi memory; the largest free is 1 CPU and 1Gi memory on host a',
    ]);
  });

  test('every dimension is free somewhere but not together: the nearest host and what it lacks', () => {
    const hosts = [
      host('cpu-rich', { cpu: 8, memoryBytes: Gi }),
      host('mem-rich', { cpu: 1, memoryBytes: 8 * Gi }),
    ];
    const r = allocate({ hosts, seed: 1, tasks: asks('j', 1, { cpu: 4, memoryBytes: 4 * Gi }) });
    const e = r.failures.get('j-1');
    assert.deepEqual(e?.suggestions, [
      'no host has cpu 4, memory 4Gi and pids 10 free at once; the nearest is cpu-rich, short 3Gi memory',
    ]);
    assert.deepEqual(
      e.nearest.map((n) => [n.host, n.failed[0]?.shortfall]),
      [
        ['cpu-rich', { memoryBytes: 3 * Gi }],
        ['mem-rich', { cpu: 3 }],
      ],
    );
  });
});
