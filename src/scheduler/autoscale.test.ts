/**
 * Scaling by a counter, pure: checked against the rule written out independently (replicas =
 * ceil(total / target) within the bounds; no change within 10% of the target; a scale-down never
 * below the highest recommendation of the delay), on fixed cases and on random inputs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { MetricScalingSpec } from '../model/index.ts';
import { decideScale, recommendReplicas, type Recommendation } from './autoscale.ts';

const spec = (o: Partial<MetricScalingSpec> = {}): MetricScalingSpec => ({
  name: 'hello_requests_total',
  where: {},
  rate: true,
  target: 10,
  windowMs: 60_000,
  scaleDownDelayMs: 300_000,
  ...o,
});
const T0 = Date.UTC(2026, 11, 6, 12);

test('replicas are the total over the target, rounded up, within the bounds', () => {
  const base = { spec: spec(), minReplicas: 1, maxReplicas: 8, current: 2 };
  assert.equal(recommendReplicas(base, 45), 5, '45/s at 10 per replica: 5');
  assert.equal(recommendReplicas(base, 500), 8, 'capped at maxReplicas');
  assert.equal(recommendReplicas(base, 0), 1, 'raised to minReplicas');
  assert.equal(recommendReplicas(base, 21), 2, 'within 10% of 2 x 10: no change');
  assert.equal(recommendReplicas(base, 23), 3, 'beyond the tolerance: up');
  assert.equal(recommendReplicas({ ...base, current: 0, minReplicas: 0 }, 0), 0, 'from zero, at zero');
});

test('up at once; down only after the delay has no higher recommendation', () => {
  const s = spec({ scaleDownDelayMs: 60_000 });
  const up = decideScale({
    spec: s,
    minReplicas: 1,
    maxReplicas: 8,
    current: 2,
    total: 60,
    history: [],
    now: T0,
  });
  assert.equal(up.replicas, 6);
  const quiet = decideScale({
    spec: s,
    minReplicas: 1,
    maxReplicas: 8,
    current: 6,
    total: 5,
    history: up.history,
    now: T0 + 30_000,
  });
  assert.equal(quiet.recommended, 1);
  assert.equal(quiet.replicas, 6, 'held: 6 was recommended 30 s ago');
  assert.match(quiet.reason, /held at 6 by the scale-down delay/);
  const later = decideScale({
    spec: s,
    minReplicas: 1,
    maxReplicas: 8,
    current: 6,
    total: 5,
    history: quiet.history,
    now: T0 + 61_000,
  });
  assert.equal(later.replicas, 1, 'the 6 is older than the delay: down to 1');
});

test('without points the replicas stay as they are', () => {
  const d = decideScale({
    spec: spec(),
    minReplicas: 1,
    maxReplicas: 8,
    current: 3,
    total: undefined,
    history: [],
    now: T0,
  });
  assert.equal(d.replicas, 3);
  assert.equal(d.recommended, undefined);
  assert.match(d.reason, /no points of hello_requests_total rate/);
});

test('random inputs: the decision follows the rule written out independently', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 5 }),
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 0, max: 30 }),
      fc.double({ min: 0, max: 1000, noNaN: true }),
      fc.double({ min: 0.5, max: 50, noNaN: true }),
      fc.array(
        fc.record({ ago: fc.integer({ min: 0, max: 600_000 }), replicas: fc.integer({ min: 0, max: 30 }) }),
        {
          maxLength: 8,
        },
      ),
      (min, extra, current, total, target, past) => {
        const max = min + extra;
        const s = spec({ target });
        const history: Recommendation[] = past.map((p) => ({ at: T0 - p.ago, replicas: p.replicas }));
        const d = decideScale({
          spec: s,
          minReplicas: min,
          maxReplicas: max,
          current,
          total,
          history,
          now: T0,
        });
        const cur = Math.min(max, Math.max(min, current));
        // The rule, independently: the raw need, the tolerance band, the bounds.
        const need = Math.min(max, Math.max(min, Math.ceil(total / target - 1e-9)));
        const within = cur > 0 && Math.abs(total / (cur * target) - 1) <= 0.1;
        const rec = within ? cur : need;
        assert.equal(d.recommended, rec);
        assert.ok(d.replicas >= min && d.replicas <= max, 'within the bounds');
        if (rec >= cur) assert.equal(d.replicas, rec, 'up (or level) at once');
        else {
          const recent = history.filter((h) => h.at > T0 - s.scaleDownDelayMs).map((h) => h.replicas);
          const floor = Math.max(rec, ...recent);
          assert.equal(d.replicas, Math.min(cur, floor), 'down to the highest recent recommendation');
        }
        assert.ok(d.history.every((h) => h.at > T0 - s.scaleDownDelayMs));
      },
    ),
  );
});
