import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { NAME_PATTERN } from '../lib/ids.ts';
import { formatIssues, parseJobFile, toUserForm, validateJob } from './job-file.ts';
import type { Constraint, JobSpec, PortSpec, ProbeSpec, RestartPolicy, SpreadSpec } from './job.ts';
import { normalizePort } from './job.ts';
import { JOB_LIMITS, editDistance, jobJsonSchema, jobSchemaFileText } from './job-schema.ts';

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('schema/job.schema.json', () => {
  test('is up to date with the zod schema (run `npm run schema` if this fails)', () => {
    const file = new URL('../../schema/job.schema.json', import.meta.url);
    const current = readFileSync(file, 'utf8').split('\n');
    const expected = jobSchemaFileText().split('\n');
    const line = expected.findIndex((l, i) => l !== current[i]);
    const differs = line >= 0 || current.length !== expected.length;
    assert.ok(
      !differs,
      `schema/job.schema.json is out of date (first difference at line ${line + 1}: ${JSON.stringify(current[line])}` +
        ` should be ${JSON.stringify(expected[line])}); run npm run schema`,
    );
  });

  test('every field has a description, and objects refuse unknown fields', () => {
    const missing: string[] = [];
    const open: string[] = [];
    const walk = (node: Record<string, unknown>, path: string): void => {
      const props = node['properties'] as Record<string, Record<string, unknown>> | undefined;
      if (props) {
        if (node['additionalProperties'] !== false) open.push(path || '(root)');
        for (const [k, v] of Object.entries(props)) {
          const p = path ? `${path}.${k}` : k;
          if (typeof v['description'] !== 'string') missing.push(p);
          walk(v, p);
        }
      }
      const items = node['items'] as Record<string, unknown> | undefined;
      if (items && typeof items === 'object') walk(items, `${path}[]`);
    };
    walk(jobJsonSchema(), '');
    assert.deepEqual(missing, []);
    assert.deepEqual(open, []);
  });

  test('its defaults are the defaults the parser applies', () => {
    const r = validateJob({
      name: 'x',
      task: {
        command: ['run'],
        ports: [{ name: 'http', port: 80 }],
        health: { liveness: { http: { port: 'http' } } },
      },
      placement: { spread: [{ attribute: 'rack' }], constraints: [] },
    });
    assert.ok(r.ok);
    const user = toUserForm(r.spec);
    let checked = 0;
    const walk = (schema: Record<string, unknown>, value: unknown, path: string): void => {
      if ('default' in schema && (typeof schema['default'] !== 'object' || schema['default'] === null)) {
        assert.deepEqual(value, schema['default'], path);
        checked++;
      }
      const props = schema['properties'] as Record<string, Record<string, unknown>> | undefined;
      if (props && value && typeof value === 'object') {
        for (const [k, v] of Object.entries(props))
          walk(v, (value as Record<string, unknown>)[k], `${path}.${k}`);
      }
      const items = schema['items'] as Record<string, unknown> | undefined;
      if (items && Array.isArray(value)) value.forEach((v, i) => walk(items, v, `${path}[${i}]`));
    };
    walk(jobJsonSchema(), user, '');
    assert.ok(checked >= 20, `only ${checked} defaults checked`);
  });
});

test('editDistance counts transpositions as one edit', () => {
  assert.equal(editDistance('comand', 'command'), 1);
  assert.equal(editDistance('relpicas', 'replicas'), 1);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('kitten', 'sitting'), 3);
});

// ---------------------------------------------------------------------------------------------
// Property: any valid normalized spec survives spec -> user form -> (JSON | YAML) -> spec.

const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      '\t',
      '\n',
      '\u0001',
      ' ',
      '"',
      "'",
      ':',
      '#',
      '- ',
      '{',
      '}',
      '[',
      ']',
      '&',
      '*',
      '!',
      '|',
      '>',
    ),
    fc.constantFrom('%', '@', '`', '\\', 'é', '日', '😀', 'true', 'null', '0x1F', '1e3', '~', '---'),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 3 }),
  ),
  maxLength: 8,
});
const nonEmptyText = text.filter((s) => s !== '');
const ms = (min: number, max: number): fc.Arbitrary<number> =>
  fc.oneof(
    fc.integer({ min, max }),
    fc.integer({ min: Math.ceil(min / SECOND), max: Math.floor(max / SECOND) }).map((s) => s * SECOND),
  );
const portName = fc.stringMatching(/^[a-z]([a-z0-9-]{0,13}[a-z0-9])?$/);
const attribute = fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9._/-]{0,20}[A-Za-z0-9])?$/);
const threshold = fc.integer({ min: 1, max: 100 });

function probe(ports: PortSpec[]): fc.Arbitrary<ProbeSpec> {
  const portRef: fc.Arbitrary<string | number> =
    ports.length > 0
      ? fc.oneof(fc.constantFrom(...ports.map((p) => p.name)), fc.integer({ min: 1, max: 65535 }))
      : fc.integer({ min: 1, max: 65535 });
  const action: fc.Arbitrary<ProbeSpec['action']> = fc.oneof(
    fc.record({
      http: fc.record({
        port: portRef,
        path: fc.stringMatching(/^\/[A-Za-z0-9/?=&%._-]{0,20}$/),
        scheme: fc.constant('http' as const),
      }),
    }),
    fc.record({ tcp: fc.record({ port: portRef }) }),
    fc.record({
      exec: fc.record({
        command: fc.tuple(nonEmptyText, fc.array(text, { maxLength: 3 })).map(([a, r]) => [a, ...r]),
      }),
    }),
  );
  return fc.record({
    action,
    intervalMs: ms(100, HOUR),
    timeoutMs: ms(10, HOUR),
    failures: threshold,
    successes: threshold,
    initialDelayMs: ms(0, HOUR),
    startPeriodMs: ms(0, HOUR),
  });
}

const ports: fc.Arbitrary<PortSpec[]> = fc
  .tuple(
    fc.uniqueArray(portName, { maxLength: 4 }),
    fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 4, maxLength: 4 }),
    fc.array(fc.constantFrom('http' as const, 'tcp' as const, undefined), { minLength: 4, maxLength: 4 }),
  )
  .map(([names, numbers, protocols]) =>
    names.map((name, i) => normalizePort(name, numbers[i] ?? 1, protocols[i])),
  );

const constraint: fc.Arbitrary<Constraint> = fc.oneof(
  fc.record({ attribute, equals: text }),
  fc.record({ attribute, in: fc.array(text, { minLength: 1, maxLength: 3 }) }),
  fc.record({ attribute, not: text }),
  fc.record({ attribute, regex: fc.constantFrom('^web-[0-9]+$', 'a|b', '.*', '\\d{2,}', '[^/]+') }),
);

const spread: fc.Arbitrary<SpreadSpec[]> = fc
  .uniqueArray(attribute, { maxLength: 3 })
  .chain((attrs) =>
    fc.tuple(
      ...attrs.map((a) =>
        fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }).map((min) => ({ a, min })),
      ),
    ),
  )
  .map((xs) => xs.map(({ a, min }) => (min === undefined ? { attribute: a } : { attribute: a, min })));

// Ports and the probes that may refer to them are generated together; the rest independently
// (arbitraries built inside chain() are rebuilt on every run, which is slow).
const portsAndProbes = ports.chain((declared) =>
  fc.record({
    declared: fc.constant(declared),
    liveness: fc.option(probe(declared), { nil: undefined }),
    readiness: fc.option(probe(declared), { nil: undefined }),
  }),
);

const jobSpec: fc.Arbitrary<JobSpec> = fc
  .tuple(
    portsAndProbes,
    fc.record({
      name: fc.stringMatching(NAME_PATTERN),
      replicas: fc.integer({ min: 0, max: 10_000 }),
      image: fc.option(fc.stringMatching(/^[a-z0-9][a-z0-9._:/@-]{0,30}$/), { nil: undefined }),
      command: fc.tuple(nonEmptyText, fc.array(text, { maxLength: 4 })).map(([a, r]) => [a, ...r]),
      env: fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/), text, { maxKeys: 4 }),
      workingDir: fc.option(fc.stringMatching(/^\/?[a-z0-9/._-]{1,20}$/), { nil: undefined }),
      cpu: fc.integer({ min: 1, max: 1_024_000 }).map((m) => m / 1000),
      memoryBytes: fc.oneof(
        fc.integer({ min: JOB_LIMITS.memoryBytes.min, max: JOB_LIMITS.memoryBytes.max }),
        fc.integer({ min: 4, max: 1024 * 1024 }).map((n) => n * 1024 * 1024),
        fc.integer({ min: 5, max: 1000 }).map((n) => n * 1e6),
      ),
      pids: fc.integer({ min: 1, max: 4_194_304 }),
      policy: fc.constantFrom<RestartPolicy[]>('always', 'on-failure', 'never'),
      backoffs: fc
        .tuple(ms(10, HOUR), ms(10, DAY))
        .map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a])),
      // the normalized form leaves rescheduleAfter out at its default (5)
      rescheduleAfter: fc.option(
        fc.integer({ min: 0, max: 1000 }).filter((n) => n !== 5),
        { nil: undefined },
      ),
      stopGracePeriodMs: ms(0, HOUR),
      rollout: fc
        .tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }))
        .filter(([u, s]) => u + s > 0),
      canary: fc.integer({ min: 0, max: 10_000 }),
      minHealthyMs: ms(0, HOUR),
      deadlineExtra: ms(1, DAY - HOUR),
      autoRollback: fc.boolean(),
      autoPromote: fc.boolean(),
      spread,
      constraints: fc.array(constraint, { maxLength: 4 }),
    }),
  )
  .map(([{ declared, liveness, readiness }, g]): JobSpec => {
    const health: JobSpec['task']['health'] = {};
    if (liveness) health.liveness = liveness;
    if (readiness) health.readiness = readiness;
    return {
      name: g.name,
      replicas: g.replicas,
      task: {
        ...(g.image === undefined ? {} : { image: g.image }),
        command: g.command,
        env: g.env,
        ...(g.workingDir === undefined ? {} : { workingDir: g.workingDir }),
        resources: { cpu: g.cpu, memoryBytes: g.memoryBytes, pids: g.pids },
        ports: declared,
        health,
        restart: {
          policy: g.policy,
          initialBackoffMs: g.backoffs[0],
          maxBackoffMs: g.backoffs[1],
          ...(g.rescheduleAfter === undefined ? {} : { rescheduleAfter: g.rescheduleAfter }),
        },
        stopGracePeriodMs: g.stopGracePeriodMs,
      },
      update: {
        maxUnavailable: g.rollout[0],
        maxSurge: g.rollout[1],
        canary: g.canary,
        minHealthyMs: g.minHealthyMs,
        deadlineMs: Math.max(SECOND, g.minHealthyMs + g.deadlineExtra),
        autoRollback: g.autoRollback,
        autoPromote: g.autoPromote,
      },
      placement: { spread: g.spread, constraints: g.constraints },
    };
  })
  // fast-check builds null-prototype records; the parser builds ordinary objects.
  .map((spec) => structuredClone(spec));

describe('round trip', () => {
  test('validateJob(toUserForm(spec)) gives back spec, also through JSON and YAML text', () => {
    fc.assert(
      fc.property(jobSpec, (spec) => {
        const user = toUserForm(spec);
        const direct = validateJob(user);
        if (!direct.ok) assert.fail(formatIssues(direct.issues));
        assert.deepEqual(direct.spec, spec);
        const viaJson = validateJob(JSON.parse(JSON.stringify(user)));
        assert.ok(viaJson.ok);
        assert.deepEqual(viaJson.spec, spec);
        // Multi-line strings as quoted scalars: yaml's stringify writes " \n" as a block scalar that
        // reads back as "\n" (its own bug, not the parser's), which made this property flaky.
        const text = stringify(user, { blockQuote: false });
        const yaml = parseJobFile(text, 'job.yaml');
        if (!yaml.ok) assert.fail(`${formatIssues(yaml.issues)}\n${text}`);
        assert.deepEqual(yaml.spec, spec);
      }),
      { numRuns: 300 },
    );
  });

  test('toUserForm does not share arrays or objects with the spec', () => {
    const r = validateJob({ name: 'x', task: { command: ['a'], env: { A: 'b' } } });
    assert.ok(r.ok);
    const user = toUserForm(r.spec) as { task: { command: string[]; env: Record<string, string> } };
    user.task.command.push('mutated');
    user.task.env['B'] = 'c';
    assert.deepEqual(r.spec.task.command, ['a']);
    assert.deepEqual(r.spec.task.env, { A: 'b' });
  });
});

describe('task.restart.rescheduleAfter', () => {
  const job = (restart: Record<string, unknown>): unknown => ({
    name: 'x',
    task: { command: ['run'], restart },
  });

  test('defaults to 5, left out of the normalized form at 5; 0 (never) and other values are kept', () => {
    for (const [given, kept] of [
      [undefined, undefined],
      [5, undefined],
      [0, 0],
      [1, 1],
      [1000, 1000],
    ] as const) {
      const r = validateJob(job(given === undefined ? {} : { rescheduleAfter: given }));
      assert.ok(r.ok, String(given));
      assert.equal(r.spec.task.restart.rescheduleAfter, kept, String(given));
      assert.equal('rescheduleAfter' in r.spec.task.restart, kept !== undefined);
      const user = toUserForm(r.spec) as { task: { restart: { rescheduleAfter: number } } };
      assert.equal(user.task.restart.rescheduleAfter, given ?? 5, 'the user form spells it out');
    }
  });

  test('a spec stored before the field existed equals the same file read again', () => {
    const r = validateJob(job({ policy: 'always' }));
    assert.ok(r.ok);
    assert.deepEqual(Object.keys(r.spec.task.restart).sort(), ['initialBackoffMs', 'maxBackoffMs', 'policy']);
  });

  test('out of range, fractional or quoted values are refused with what is expected', () => {
    const cases: [unknown, RegExp][] = [
      [-1, /must be at least 0/],
      [1001, /must be at most 1000/],
      [2.5, /whole number/],
      ['3', /without quotes/],
    ];
    for (const [value, message] of cases) {
      const r = validateJob(job({ rescheduleAfter: value }));
      assert.ok(!r.ok, String(value));
      const issue = r.issues.find((i) => i.path === 'task.restart.rescheduleAfter');
      assert.ok(issue, formatIssues(r.issues));
      assert.match(issue.message, message);
      assert.equal(issue.expected, 'an integer from 0 to 1000');
    }
  });
});
