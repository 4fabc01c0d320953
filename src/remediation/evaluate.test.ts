import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RemediationRecord, RemediationRule } from '../model/index.ts';
import { evaluate, RETRY_FAILED_MS, type HostFacts, type RemediationState } from './index.ts';

const MIN = 60_000;
const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);

function rule(o: Partial<RemediationRule> = {}): RemediationRule {
  return {
    name: 'full-disks',
    when: { host: { condition: 'DiskFull', forMs: 5 * MIN } },
    do: 'drain',
    limit: { max: 1, perMs: 30 * MIN, rackPercent: 100 },
    dryRun: false,
    ...o,
  };
}

function host(id: string, o: Partial<HostFacts> & { fullFor?: number } = {}): HostFacts {
  const { fullFor, ...rest } = o;
  return {
    id,
    state: 'ready',
    labels: { rack: 'r1' },
    ...(fullFor === undefined
      ? {}
      : {
          conditions: [{ type: 'DiskFull', message: '/var/lib/dabba: 0 bytes free', since: NOW - fullFor }],
        }),
    ...rest,
  };
}

function state(o: Partial<RemediationState>): RemediationState {
  return { now: NOW, hosts: [], jobs: [], history: [], ...o };
}

function record(o: Partial<RemediationRecord>): RemediationRecord {
  return {
    id: 'x',
    at: NOW - MIN,
    rule: 'full-disks',
    target: 'host:h1',
    action: 'drain',
    outcome: 'done',
    reason: '',
    ...o,
  };
}

test('a condition held for the rule\u2019s `for` matches; a shorter one does not; the reason says what and how long', () => {
  const d = evaluate(
    [rule()],
    state({ hosts: [host('h1', { fullFor: 6 * MIN }), host('h2', { fullFor: 4 * MIN })] }),
  );
  assert.equal(d.length, 1);
  assert.equal(d[0]?.host, 'h1');
  assert.equal(d[0]?.outcome, 'act');
  assert.match(d[0]?.reason ?? '', /^host h1 DiskFull: \/var\/lib\/dabba: 0 bytes free \(for 360s\)$/);
});

test('at most `max` per window: one acts, the others are held back once, and act when the window has passed', () => {
  const hosts = ['h1', 'h2', 'h3'].map((id) => host(id, { fullFor: 10 * MIN }));
  const first = evaluate([rule()], state({ hosts }));
  assert.deepEqual(
    first.map((d) => [d.host, d.outcome]),
    [
      ['h1', 'act'],
      ['h2', 'rate-limited'],
      ['h3', 'rate-limited'],
    ],
  );
  assert.match(first[1]?.detail ?? '', /1 action of this rule in the last 30 min \(max 1\)/);
  // The next round: h1 was drained (now draining), h2 and h3 were logged as held back.
  const history = first.map((d) =>
    record({ at: NOW, target: d.target, outcome: d.outcome === 'act' ? 'done' : 'rate-limited' }),
  );
  const drained = [host('h1', { fullFor: 10 * MIN, state: 'draining' }), ...hosts.slice(1)];
  assert.deepEqual(evaluate([rule()], state({ now: NOW + MIN, hosts: drained, history })), [], 'nothing new');
  const later = evaluate([rule()], state({ now: NOW + 31 * MIN, hosts: drained, history }));
  assert.deepEqual(
    later.map((d) => [d.host, d.outcome]),
    [['h2', 'act']],
  );
});

test('rack percent: never more than the limit of a rack out of placement', () => {
  const hosts = [
    host('h1', { state: 'cordoned' }),
    host('h2', { fullFor: 10 * MIN }),
    host('h3', { fullFor: 10 * MIN }),
    host('h4'),
    host('x1', { labels: { rack: 'r2' }, fullFor: 10 * MIN }),
  ];
  const d = evaluate([rule({ limit: { max: 10, perMs: 30 * MIN, rackPercent: 50 } })], state({ hosts }));
  assert.deepEqual(
    d.map((x) => [x.host, x.outcome]),
    [
      ['h2', 'act'],
      ['h3', 'rate-limited'],
      ['x1', 'rate-limited'],
    ],
  );
  assert.match(d[1]?.detail ?? '', /3 of the 4 hosts of rack r1 out of placement \(75% > 50%\)/);
  assert.match(d[2]?.detail ?? '', /1 of the 1 hosts of rack r2 .*100% > 50%/);
});

test('dry run: logged once per episode, nothing done; a new episode logs again', () => {
  const r = rule({ dryRun: true });
  const hosts = [host('h1', { fullFor: 10 * MIN }), host('h2', { fullFor: 10 * MIN })];
  const d = evaluate([r], state({ hosts }));
  assert.deepEqual(
    d.map((x) => x.outcome),
    ['dry-run', 'dry-run'],
    'no rate limit in a dry run: it only says what would be done',
  );
  const history = d.map((x) => record({ at: NOW, target: x.target, outcome: 'dry-run' }));
  assert.deepEqual(evaluate([r], state({ now: NOW + MIN, hosts, history })), []);
  // The condition cleared and came back: a new episode.
  const again = [host('h1', { conditions: [{ type: 'DiskFull', message: 'm', since: NOW + 2 * MIN }] })];
  assert.equal(evaluate([r], state({ now: NOW + 8 * MIN, hosts: again, history })).length, 1);
});

test('cordon skips hosts already out of placement; drain skips those draining or in maintenance', () => {
  const hosts = [
    host('h1', { fullFor: 10 * MIN, state: 'cordoned' }),
    host('h2', { fullFor: 10 * MIN, state: 'draining' }),
    host('h3', { fullFor: 10 * MIN, state: 'maintenance' }),
  ];
  const many = { max: 10, perMs: MIN, rackPercent: 100 };
  assert.deepEqual(evaluate([rule({ do: 'cordon', limit: many })], state({ hosts })), []);
  assert.deepEqual(
    evaluate([rule({ limit: many })], state({ hosts })).map((d) => d.host),
    ['h1'],
  );
});

test('a host down for the rule\u2019s time (as observed) matches a Down rule', () => {
  const r = rule({
    when: { host: { condition: 'Down', forMs: 2 * MIN } },
    do: { hook: { url: 'http://h/x' } },
  });
  const hosts = [
    host('h1', { state: 'down', downSince: NOW - 3 * MIN }),
    host('h2', { state: 'down', downSince: NOW - MIN }),
  ];
  const d = evaluate([r], state({ hosts }));
  assert.deepEqual(
    d.map((x) => [x.host, x.action, x.reason]),
    [['h1', 'hook http://h/x', 'host h1 down (no heartbeat) (for 180s)']],
  );
});

test('a crash-looping task of the current version: roll the job back, once per version; a failed action retries later', () => {
  const r = rule({ name: 'loops', when: { task: { crashLooping: 3 } }, do: 'rollback' });
  const jobs = [
    {
      id: 'web',
      version: 2,
      tasks: [
        { id: 'web-aaaaa', version: 2, desired: 'run' as const, healthy: false, restarts: 4 },
        { id: 'web-bbbbb', version: 2, desired: 'run' as const, healthy: false, restarts: 3 },
        { id: 'web-ccccc', version: 1, desired: 'run' as const, healthy: false, restarts: 9 },
      ],
    },
    {
      id: 'ok',
      version: 1,
      tasks: [{ id: 'ok-aaaaa', version: 1, desired: 'run' as const, healthy: true, restarts: 7 }],
    },
  ];
  const d = evaluate([r], state({ jobs }));
  assert.equal(d.length, 1);
  assert.equal(d[0]?.target, 'job:web@v2');
  assert.equal(d[0]?.job, 'web');
  assert.match(d[0]?.reason ?? '', /task web-aaaaa and 1 more crash-looping \(4 restarts, not healthy\)/);
  const done = [record({ rule: 'loops', target: 'job:web@v2', outcome: 'done', at: NOW })];
  assert.deepEqual(evaluate([r], state({ now: NOW + 31 * MIN, jobs, history: done })), []);
  const failed = [record({ rule: 'loops', target: 'job:web@v2', outcome: 'failed', at: NOW })];
  assert.deepEqual(evaluate([r], state({ now: NOW + MIN, jobs, history: failed })), []);
  assert.equal(evaluate([r], state({ now: NOW + RETRY_FAILED_MS, jobs, history: failed })).length, 1);
});

test('restart-runtime: a RuntimeBroken host matches, one per window, never a down host, none out of placement', () => {
  const broken = (id: string, o: Partial<HostFacts> = {}): HostFacts =>
    host(id, {
      conditions: [
        { type: 'RuntimeBroken', message: 'the oci runtime: bridge missing', since: NOW - 3 * MIN },
      ],
      ...o,
    });
  const r = rule({
    name: 'runtimes',
    when: { host: { condition: 'RuntimeBroken', forMs: 2 * MIN } },
    do: 'restart-runtime',
    limit: { max: 1, perMs: 30 * MIN, rackPercent: 0 },
  });
  const d = evaluate([r], state({ hosts: [broken('h1'), broken('h2'), broken('h3', { state: 'down' })] }));
  assert.deepEqual(
    d.map((x) => [x.target, x.action, x.outcome]),
    [
      ['host:h1', 'restart-runtime', 'act'],
      ['host:h2', 'restart-runtime', 'rate-limited'],
    ],
  );
  // rackPercent 0 would hold back any cordon or drain: a restart takes no host out of placement.
  assert.equal(d[0]?.detail, undefined);
  const dry = evaluate([{ ...r, dryRun: true }], state({ hosts: [broken('h1')] }));
  assert.deepEqual(
    dry.map((x) => x.outcome),
    ['dry-run'],
  );
  const after = evaluate(
    [r],
    state({
      hosts: [broken('h1')],
      history: [record({ rule: 'runtimes', action: 'restart-runtime', outcome: 'done', at: NOW - MIN })],
    }),
  );
  assert.deepEqual(after, [], 'done once in this episode');
});
