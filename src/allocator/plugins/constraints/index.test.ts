import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Constraint } from '../../../model/index.ts';
import { allocate } from '../../index.ts';
import { asks, host, placement } from '../../test-fixtures.ts';

const fleet = [
  host('web-1', { labels: { region: 'prn', kernel: '5.15', constructor: 'x' } }),
  host('web-2', { labels: { region: 'ash', kernel: '4.19' } }),
  host('db-1', { labels: { region: 'prn' }, runtime: 'oci' }),
  host('web-10', { labels: {} }),
];

/** The hosts a single task of a job with these constraints may go to (each host tried alone). */
function eligible(constraints: Constraint[]): string[] {
  return fleet
    .filter(
      (h) =>
        allocate({ hosts: [h], seed: 1, tasks: asks('j', 1, { placement: placement({ constraints }) }) })
          .placements.size === 1,
    )
    .map((h) => h.id);
}

describe('operators', () => {
  test('equals', () => {
    assert.deepEqual(eligible([{ attribute: 'region', equals: 'prn' }]), ['web-1', 'db-1']);
  });
  test('in', () => {
    assert.deepEqual(eligible([{ attribute: 'region', in: ['ash', 'lla'] }]), ['web-2']);
  });
  test('not: a host without the attribute passes', () => {
    assert.deepEqual(eligible([{ attribute: 'kernel', not: '4.19' }]), ['web-1', 'db-1', 'web-10']);
  });
  test('regex: JavaScript syntax, not anchored', () => {
    assert.deepEqual(eligible([{ attribute: 'kernel', regex: '1' }]), ['web-1', 'web-2']);
    assert.deepEqual(eligible([{ attribute: 'kernel', regex: '^5\\.' }]), ['web-1']);
  });
  test('every constraint must hold', () => {
    assert.deepEqual(
      eligible([
        { attribute: 'region', equals: 'prn' },
        { attribute: 'kernel', regex: '.' },
      ]),
      ['web-1'],
    );
  });
  test('an invalid regex rejects every host instead of throwing', () => {
    assert.deepEqual(eligible([{ attribute: 'kernel', regex: '(' }]), []);
  });
});

describe('attributes', () => {
  test('host.id and host.runtime are attributes of every host', () => {
    assert.deepEqual(eligible([{ attribute: 'host.id', regex: '^web-[0-9]+$' }]), [
      'web-1',
      'web-2',
      'web-10',
    ]);
    assert.deepEqual(eligible([{ attribute: 'host.runtime', equals: 'oci' }]), ['db-1']);
  });
  test('labels are own properties only', () => {
    assert.deepEqual(eligible([{ attribute: 'constructor', regex: '.' }]), ['web-1']);
    assert.deepEqual(eligible([{ attribute: 'toString', not: 'x' }]), ['web-1', 'web-2', 'db-1', 'web-10']);
  });
});

test('explanation: hosts grouped by the first constraint they fail; would-fit hosts by the rules they break', () => {
  const constraints: Constraint[] = [
    { attribute: 'region', equals: 'prn' },
    { attribute: 'kernel', not: '5.15' },
  ];
  const r = allocate({
    hosts: fleet,
    seed: 1,
    tasks: asks('j', 1, { placement: placement({ constraints }) }),
  });
  assert.equal(r.placements.get('j-1'), 'db-1');
  const r2 = allocate({
    hosts: fleet.filter((h) => h.id !== 'db-1'),
    seed: 1,
    tasks: asks('j', 1, { placement: placement({ constraints }) }),
  });
  const e = r2.failures.get('j-1');
  assert.ok(e);
  assert.deepEqual(e.filters[1], {
    filter: 'constraints',
    rejected: 3,
    reasons: [
      { reason: 'not region=prn', hosts: 1, examples: ['web-2'] },
      { reason: 'with kernel=5.15', hosts: 1, examples: ['web-1'] },
      { reason: 'without region', hosts: 1, examples: ['web-10'] },
    ],
  });
  assert.deepEqual(e.suggestions, [
    '2 hosts would fit without the constraint region=prn: web-10, web-2',
    '1 host would fit without the constraint kernel != 5.15: web-1',
  ]);
  assert.equal(
    e.summary,
    'no host fits cpu 1, memory 64Mi, pids 10: of 3 hosts, 1 not region=prn, 1 with kernel=5.15, 1 without region; ' +
      '2 hosts would fit without the constraint region=prn: web-10, web-2; ' +
      '1 host would fit without the constraint kernel != 5.15: web-1',
  );
});

test('a host breaking several constraints is named with all of them', () => {
  const constraints: Constraint[] = [
    { attribute: 'region', in: ['lla'] },
    { attribute: 'host.id', regex: '^db-' },
  ];
  const e = allocate({
    hosts: fleet,
    seed: 1,
    tasks: asks('j', 1, { placement: placement({ constraints }) }),
  }).failures.get('j-1');
  assert.deepEqual(e?.suggestions, [
    '3 hosts would fit without the constraints region in [lla] and host.id ~ /^db-/: web-1, web-10, web-2',
    '1 host would fit without the constraint region in [lla]: db-1',
  ]);
});
