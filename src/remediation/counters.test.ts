/** Counter rules, pure: readings from series (over, coverage, keys) and the decisions they give. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CounterCondition, RemediationRule } from '../model/index.ts';
import { parseRemediationFile } from '../model/files.ts';
import { formatIssue } from '../model/index.ts';
import { counterFacts, counterSpan, evaluate, type RemediationState } from './index.ts';

const MIN = 60_000;
const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);

const cond = (o: Partial<CounterCondition> = {}): CounterCondition => ({
  name: 'hello_errors_total',
  where: {},
  rate: true,
  above: 5,
  forMs: 5 * MIN,
  per: 'job',
  ...o,
});

/** Points every `step` from `from` to the span's end, valued by `v(i)`. */
function points(span: { start: number; end: number; step: number }, from: number, v: (i: number) => number) {
  const out: [number, number][] = [];
  for (let t = from, i = 0; t < span.end; t += span.step, i++) out.push([t, v(i)]);
  return out;
}

test('a group is over when every point is above the bound and the points reach back to the start', () => {
  const c = cond();
  const span = counterSpan(c, NOW);
  const facts = counterFacts(
    c,
    [
      { labels: { job: 'web', namespace: 'default' }, points: points(span, span.start, () => 9) },
      {
        labels: { job: 'api', namespace: 'team-a' },
        points: points(span, span.start, (i) => (i === 7 ? 4 : 9)),
      },
      // Above all along, but only for the last minute: not yet.
      { labels: { job: 'new', namespace: 'default' }, points: points(span, span.end - MIN, () => 50) },
    ],
    span,
  );
  assert.deepEqual(
    facts.map((f) => [f.key, f.over]),
    [
      ['web', true],
      ['team-a:api', false],
      ['new', false],
    ],
  );
  assert.equal(facts[1]?.lowest, 4);
  assert.equal(
    counterFacts(cond({ per: 'host' }), [{ labels: { host: 'h1' }, points: [[span.start, 9]] }], span)[0]
      ?.key,
    'h1',
  );
});

function rule(when: CounterCondition, o: Partial<RemediationRule> = {}): RemediationRule {
  return {
    name: 'errors',
    when: { counter: when },
    do: 'rollback',
    limit: { max: 1, perMs: 30 * MIN, rackPercent: 100 },
    dryRun: false,
    ...o,
  };
}

test('a job over the bound is rolled back; a host over it is drained, under the rate limit', () => {
  const base: RemediationState = {
    now: NOW,
    hosts: [
      { id: 'h1', state: 'ready', labels: {} },
      { id: 'h2', state: 'ready', labels: {} },
    ],
    jobs: [{ id: 'web', version: 3, tasks: [] }],
    history: [],
  };
  const reading = { over: true, last: 12, lowest: 7, since: NOW - 5 * MIN };
  const jobRule = rule(cond());
  const d = evaluate([jobRule], { ...base, counters: new Map([['errors', [{ key: 'web', ...reading }]]]) });
  assert.equal(d.length, 1);
  assert.equal(d[0]?.target, 'job:web@v3');
  assert.equal(d[0]?.outcome, 'act');
  assert.match(
    d[0]?.reason ?? '',
    /hello_errors_total rate of job web above 5 for 300s \(now 12\.00, lowest 7\.00\)/,
  );

  const hostRule = rule(cond({ per: 'host', rate: false, name: 'host_load' }), { name: 'hot', do: 'drain' });
  const h = evaluate([hostRule], {
    ...base,
    counters: new Map([
      [
        'hot',
        [
          { key: 'h1', ...reading },
          { key: 'h2', ...reading },
        ],
      ],
    ]),
  });
  assert.deepEqual(
    h.map((x) => [x.target, x.outcome]),
    [
      ['host:h1', 'act'],
      ['host:h2', 'rate-limited'],
    ],
  );
  assert.deepEqual(evaluate([jobRule], base), [], 'no reading, no match');
});

test('the rules file: a counter rule parses with defaults; an action that does not fit is refused', () => {
  const ok = parseRemediationFile(
    'rules:\n  - name: errors\n    when: { counter: { name: hello_errors_total, above: 5 } }\n    do: rollback\n',
    'r.yaml',
  );
  assert.ok(ok.ok);
  assert.deepEqual(ok.value.rules[0]?.when, { counter: cond() });
  const bad = parseRemediationFile(
    'rules:\n  - name: errors\n    when: { counter: { name: x, above: 5, per: host } }\n    do: rollback\n',
    'r.yaml',
  );
  assert.ok(!bad.ok);
  assert.deepEqual(bad.issues.map(formatIssue), [
    'r.yaml:4:9: rules[0].do: "rollback" does not apply to a host rule: use cordon, drain, restart-runtime or a hook',
  ]);
});
