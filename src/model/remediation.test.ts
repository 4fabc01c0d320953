import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIssue, ruleUserForm } from './index.ts';
import { parseRemediationFile, validateRemediationRules } from './files.ts';

test('a rules file parses with every default; its user form validates back to the same rules', () => {
  const r = parseRemediationFile(
    `rules:
  - name: full-disks
    when: { host: { condition: DiskFull } }
    do: drain
  - name: loops
    when: { task: { crashLooping: 3 } }
    do: { hook: { url: "https://pager.example/hook" } }
    limit: { max: 2, per: 1h, rackPercent: 10 }
    dryRun: true
`,
    'rules.yaml',
  );
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.value.rules[0], {
    name: 'full-disks',
    when: { host: { condition: 'DiskFull', forMs: 300_000 } },
    do: 'drain',
    limit: { max: 1, perMs: 1_800_000, rackPercent: 50 },
    dryRun: false,
  });
  assert.deepEqual(r.value.rules[1]?.limit, { max: 2, perMs: 3_600_000, rackPercent: 10 });
  const back = validateRemediationRules({ rules: r.value.rules.map(ruleUserForm) });
  assert.ok(back.ok);
  assert.deepEqual(back.rules, r.value);
});

test('every problem at once, each with line:column and what to fix', () => {
  const r = parseRemediationFile(
    `rules:
  - name: Full_Disks
    when: { host: { condition: DiskFul, for: 5 minutes } }
    do: rollback
  - name: loops
    when: { task: { crashLooping: 0 } }
    do: cordon
    limits: {}
  - name: loops
    when: { task: { crashLooping: 2 } }
    do: { hook: { url: "ftp://x" } }
`,
    'rules.yaml',
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  const text = r.issues.map(formatIssue);
  const expect = [
    /^rules\.yaml:2:11: rules\[0\]\.name: must be a DNS label/,
    /^rules\.yaml:3:32: rules\[0\]\.when\.host\.condition: must be one of: DiskFull, DiskPressure, DiskReadOnly, ClockSkew, RuntimeBroken, Down/,
    /^rules\.yaml:3:46: rules\[0\]\.when\.host\.for: "5 minutes" is not a duration/,
    /^rules\.yaml:6:35: rules\[1\]\.when\.task\.crashLooping: must be at least 1/,
    /^rules\.yaml:8:5: rules\[1\]\.limits: unknown field "limits"/,
    /^rules\.yaml:11:24: rules\[2\]\.do\.hook\.url: must be an http:\/\/ or https:\/\/ URL/,
  ];
  for (const e of expect)
    assert.ok(
      text.some((t) => e.test(t)),
      `${String(e)} in\n${text.join('\n')}`,
    );
});

test('cross checks: a duplicate name, and an action that does not fit what the rule matches', () => {
  const r = parseRemediationFile(
    `rules:
  - name: a
    when: { host: { condition: DiskFull } }
    do: rollback
  - name: b
    when: { task: { crashLooping: 2 } }
    do: drain
  - name: a
    when: { host: { condition: Down } }
    do: cordon
`,
    'r.yaml',
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.issues.map(formatIssue), [
    'r.yaml:4:9: rules[0].do: "rollback" does not apply to a host rule: use cordon, drain, restart-runtime or a hook',
    'r.yaml:7:9: rules[1].do: "drain" does not apply to a task rule: use rollback or a hook',
    'r.yaml:8:11: rules[2].name: "a" is also the name of rules[0]',
  ]);
});

test('an empty file, and a second document', () => {
  const empty = parseRemediationFile('', 'e.yaml');
  assert.equal(empty.ok, false);
  if (!empty.ok)
    assert.match(formatIssue(empty.issues[0]!), /the remediation file is empty \(it needs rules:\)/);
  const two = parseRemediationFile('rules: []\n---\nrules: []\n', 't.yaml');
  assert.equal(two.ok, false);
  if (!two.ok) assert.match(formatIssue(two.issues[0]!), /^t\.yaml:2:1: .*one YAML document/);
});
