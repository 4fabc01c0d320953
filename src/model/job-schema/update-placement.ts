/**
 * Update (rollout), placement (spread, constraints), namespace and TaskControl.
 * (Part of the job file's schema: src/model/job-schema.ts puts it together.)
 */
import { z } from 'zod';
import { NAME_PATTERN } from '../../lib/ids.ts';
import type { Constraint, PlacementSpec, TaskControlSpec, SpreadSpec, UpdateSpec } from '../job.ts';
import {
  ATTRIBUTE_PATTERN,
  DAY,
  JOB_DEFAULTS,
  JOB_LIMITS,
  SECOND,
  VOLUME_WAIT_DEFAULT_MS,
} from './limits.ts';
import type { Ctx, DefaultedLeaf, Leaf } from './leaves.ts';
import {
  OBJECT_RUNS,
  addIssue,
  bad,
  boolean,
  duration,
  fieldsValid,
  formatMs,
  integer,
  isRecord,
  leaf,
  ok,
  plainString,
  stringList,
} from './leaves.ts';
import { NAME_RULE } from './task-fields.ts';

// ---------------------------------------------------------------------------------------------
// Update and placement.

export const rolloutCount = (description: string, dflt: number): DefaultedLeaf<number> =>
  integer(description, JOB_LIMITS.rolloutCount.min, JOB_LIMITS.rolloutCount.max, dflt);

export const updateSchema = z
  .strictObject({
    maxUnavailable: rolloutCount(
      'How many tasks may be unavailable at once during a rollout (below replicas).',
      JOB_DEFAULTS.maxUnavailable,
    ),
    maxSurge: rolloutCount(
      'How many extra tasks may run at once during a rollout (above replicas).',
      JOB_DEFAULTS.maxSurge,
    ),
    canary: rolloutCount(
      'Number of new-version tasks started first, as canaries; the rest of the rollout waits until they are healthy and promoted (see autoPromote).',
      JOB_DEFAULTS.canary,
    ),
    minHealthy: duration(
      'A new task must be healthy this long before it counts as available.',
      JOB_LIMITS.minHealthyMs.min,
      JOB_LIMITS.minHealthyMs.max,
      JOB_DEFAULTS.minHealthy,
    ),
    deadline: duration(
      'A rollout that has not finished this long after it started fails.',
      JOB_LIMITS.deadlineMs.min,
      JOB_LIMITS.deadlineMs.max,
      JOB_DEFAULTS.deadline,
    ),
    autoRollback: boolean(
      'Roll back to the last good version when the rollout fails.',
      JOB_DEFAULTS.autoRollback,
    ),
    autoPromote: boolean('Promote canaries automatically once they are healthy.', JOB_DEFAULTS.autoPromote),
  })
  .meta({ description: 'How a new version rolls out.' })
  .superRefine(
    (u, ctx) => {
      if (u.maxUnavailable === 0 && u.maxSurge === 0) {
        addIssue(
          ctx,
          0,
          'maxUnavailable and maxSurge cannot both be 0 (the rollout could never progress)',
          { expected: 'maxUnavailable or maxSurge of at least 1' },
          ['maxUnavailable'],
        );
      }
    },
    fieldsValid('maxUnavailable', 'maxSurge'),
  )
  .superRefine(
    (u, ctx) => {
      if (u.deadline <= u.minHealthy) {
        addIssue(
          ctx,
          formatMs(u.deadline),
          `must be longer than minHealthy (${formatMs(u.minHealthy)})`,
          { expected: `a duration longer than ${formatMs(u.minHealthy)}` },
          ['deadline'],
        );
      }
    },
    fieldsValid('minHealthy', 'deadline'),
  )
  .transform((u): UpdateSpec => ({
    maxUnavailable: u.maxUnavailable,
    maxSurge: u.maxSurge,
    canary: u.canary,
    minHealthyMs: u.minHealthy,
    deadlineMs: u.deadline,
    autoRollback: u.autoRollback,
    autoPromote: u.autoPromote,
  }))
  .prefault({});

export function attributeLeaf(description: string): Leaf<string> {
  return leaf<string>({
    expected: 'a host attribute (label) name such as rack, region or zone',
    json: {
      type: 'string',
      pattern: ATTRIBUTE_PATTERN.source,
      maxLength: JOB_LIMITS.attribute.max,
      description,
      examples: ['rack', 'region', 'zone'],
    },
    parse: (v) => {
      const s = plainString(v, 'a string', JOB_LIMITS.attribute.max);
      if (!s.ok) return s;
      return ATTRIBUTE_PATTERN.test(s.value) ? s : bad('is not a valid attribute name');
    },
  });
}

export function valueLeaf(description: string): Leaf<string> {
  return leaf<string>({
    expected: 'a string',
    json: { type: 'string', description },
    parse: (v) => {
      if (typeof v === 'number' || typeof v === 'boolean') {
        return bad(`must be a string; quote it: "${String(v)}"`);
      }
      return typeof v === 'string' ? ok(v) : bad('must be a string');
    },
  });
}

export const spreadSchema = z
  .strictObject({
    attribute: attributeLeaf('Host attribute whose values are the fault domains (e.g. rack).'),
    min: integer(
      'Fault-domain intent: place the tasks across at least this many distinct values of the attribute.',
      JOB_LIMITS.spreadMin.min,
      JOB_LIMITS.spreadMin.max,
    ).optional(),
  })
  .meta({ description: 'Spread tasks evenly across the values of a host attribute.' })
  .transform((s): SpreadSpec =>
    s.min === undefined ? { attribute: s.attribute } : { attribute: s.attribute, min: s.min },
  );

export const CONSTRAINT_OPS = ['equals', 'in', 'not', 'regex'] as const;

export const constraintSchema = z
  .strictObject({
    attribute: attributeLeaf('Host attribute (label) the constraint tests.'),
    equals: valueLeaf('The attribute must have exactly this value.').optional(),
    in: leaf<string[]>({
      expected: 'a non-empty list of strings',
      json: {
        type: 'array',
        minItems: 1,
        items: { type: 'string' },
        description: 'The attribute must have one of these values.',
      },
      parse: (v) => {
        const r = stringList(v, 'allowed values');
        if (!r.ok) return r;
        const badItem = r.value.findIndex((x) => typeof x !== 'string');
        if (badItem >= 0) {
          const item = r.value[badItem];
          return bad(
            typeof item === 'number' || typeof item === 'boolean'
              ? `item ${badItem} must be a string; quote it: "${String(item)}"`
              : `item ${badItem} must be a string`,
          );
        }
        return ok(r.value as string[]);
      },
    }).optional(),
    not: valueLeaf('The attribute must not have this value (hosts without the attribute pass).').optional(),
    regex: leaf<string>({
      expected: 'a valid regular expression',
      json: {
        type: 'string',
        format: 'regex',
        description:
          'The attribute value must match this (JavaScript) regular expression; not anchored, use ^...$.',
      },
      parse: (v) => {
        if (typeof v !== 'string') return bad('must be a string');
        try {
          new RegExp(v, 'u');
          return ok(v);
        } catch (e) {
          return bad(`is not a valid regular expression: ${e instanceof Error ? e.message : String(e)}`);
        }
      },
    }).optional(),
  })
  .meta({
    description:
      'A hard placement rule: tasks only go to hosts whose attribute passes. Exactly one operator.',
    oneOf: CONSTRAINT_OPS.map((op) => ({ required: [op] })),
  })
  .superRefine((c, ctx) => {
    const present = CONSTRAINT_OPS.filter((op) => (c as Record<string, unknown>)[op] !== undefined);
    if (present.length === 0) {
      addIssue(ctx, undefined, 'needs an operator: one of equals, in, not or regex', {
        expected: 'exactly one of equals, in, not, regex',
      });
    } else if (present.length > 1) {
      addIssue(
        ctx,
        undefined,
        `has more than one operator (${present.join(', ')}); use one constraint per operator`,
        { expected: 'exactly one of equals, in, not, regex', atKey: true },
        [present[1] ?? 'regex'],
      );
    }
  }, OBJECT_RUNS)
  .transform((c): Constraint => {
    const a = c.attribute;
    if (c.equals !== undefined) return { attribute: a, equals: c.equals };
    if (c.in !== undefined) return { attribute: a, in: c.in };
    if (c.not !== undefined) return { attribute: a, not: c.not };
    if (c.regex !== undefined) return { attribute: a, regex: c.regex };
    throw new Error('unreachable: constraint without operator passed validation');
  });

export function maxItems(max: number, what: string) {
  return {
    check: (items: unknown[], ctx: Ctx): void => {
      if (items.length > max)
        addIssue(ctx, items.length, `has more than ${max} ${what}`, { expected: `at most ${max} ${what}` });
    },
    when: (p: z.core.ParsePayload): boolean => Array.isArray(p.value),
  };
}

export const spreadRule = maxItems(JOB_LIMITS.spread.max, 'spread rules');
export const constraintRule = maxItems(JOB_LIMITS.constraints.max, 'constraints');

export const placementSchema = z
  .strictObject({
    spread: z
      .array(spreadSchema)
      .meta({ maxItems: JOB_LIMITS.spread.max, description: 'Fault-domain spread, most important first.' })
      .superRefine(
        (spread, ctx) => {
          spreadRule.check(spread, ctx);
          const seen = new Map<string, number>();
          spread.forEach((s: unknown, i) => {
            if (!isRecord(s) || typeof s['attribute'] !== 'string') return;
            const first = seen.get(s['attribute']);
            if (first === undefined) seen.set(s['attribute'], i);
            else {
              addIssue(
                ctx,
                s['attribute'],
                `duplicate spread attribute (already in placement.spread[${first}])`,
                { expected: 'each attribute once' },
                [i, 'attribute'],
              );
            }
          });
        },
        { when: spreadRule.when },
      )
      .prefault([]),
    constraints: z
      .array(constraintSchema)
      .meta({
        maxItems: JOB_LIMITS.constraints.max,
        description: 'Hard rules; a host must pass all of them.',
      })
      .superRefine(constraintRule.check, { when: constraintRule.when })
      .prefault([]),
    volumeWait: duration(
      'Jobs with task.volumes: how long a task waits for the host that holds its volumes while that host is down, before it gets fresh (empty) volumes on another host.',
      JOB_LIMITS.volumeWaitMs.min,
      JOB_LIMITS.volumeWaitMs.max,
      JOB_DEFAULTS.volumeWait,
    ),
  })
  .meta({ description: 'Where tasks may go.' })
  // volumeWait is left out at its default, so specs stored before it existed compare equal.
  .transform((p): PlacementSpec => ({
    spread: p.spread,
    constraints: p.constraints,
    ...(p.volumeWait === VOLUME_WAIT_DEFAULT_MS ? {} : { volumeWaitMs: p.volumeWait }),
  }))
  .prefault({});

export const namespaceLeaf = leaf<string>({
  expected: NAME_RULE,
  json: {
    type: 'string',
    pattern: NAME_PATTERN.source,
    minLength: 1,
    maxLength: 63,
    description: `Namespace the job belongs to (absent: "default"): ${NAME_RULE}. Tokens are granted namespaces; a namespace may have a quota.`,
    examples: ['default', 'team-a'],
  },
  parse: (v) => {
    const s = plainString(v, 'a string', 63);
    if (!s.ok) return s;
    return NAME_PATTERN.test(s.value) ? s : bad('is not a valid namespace name');
  },
});

export const taskControlUrlLeaf = leaf<string>({
  expected: 'an http:// or https:// URL such as http://10.0.0.5:9000/taskcontrol',
  json: {
    type: 'string',
    pattern: '^https?://\\S+$',
    maxLength: 2048,
    description:
      "URL of the job's TaskControl controller: Dabba POSTs the pending disruptive operations on the job's tasks there and waits for its acknowledgement (see docs/taskcontrol.md).",
    examples: ['http://127.0.0.1:9000/taskcontrol'],
  },
  parse: (v) => {
    const s = plainString(v, 'a string', 2048);
    if (!s.ok) return s;
    let u: URL;
    try {
      u = new URL(s.value);
    } catch {
      return bad('is not a URL');
    }
    return u.protocol === 'http:' || u.protocol === 'https:' ? s : bad('must be an http:// or https:// URL');
  },
});

export const taskControlSchema = z
  .strictObject({
    url: taskControlUrlLeaf,
    timeout: duration('How long one request to the controller may take.', 100, 60 * SECOND, '5s'),
    hostFailureWait: duration(
      'After a host fails, how long replacing its tasks waits for the controller to acknowledge (then they are replaced anyway).',
      0,
      DAY,
      '1m',
    ),
  })
  .meta({
    description:
      "The job's TaskControl controller: every disruptive operation on its tasks (replace, move, restart, maintenance) waits for its acknowledgement; operations with a deadline proceed at it.",
  })
  .transform((c): TaskControlSpec => ({
    url: c.url,
    timeoutMs: c.timeout,
    hostFailureWaitMs: c.hostFailureWait,
  }));
