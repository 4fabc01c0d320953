/** Schema errors, located: names and commands, rollout and placement rules, all errors at once. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBad, issueAt, assertAt, MINIMAL } from './job-file-fixtures.ts';

describe('schema errors are located', () => {
  test('command, name, image, workingDir, env names', () => {
    const text = `name: My_App
task:
  image: "bad image"
  command: [sleep, 1000, ""]
  workingDir: ""
  env: { 1A: x }
`;
    const issues = parseBad(text);
    assert.equal(issueAt(issues, 'name').message, 'is not a valid name; did you mean "my-app"?');
    assert.match(issueAt(issues, 'task.image').message, /spaces/);
    const arg = issueAt(issues, 'task.command[1]');
    assert.equal(arg.message, 'must be a string; quote it: "1000"');
    assertAt(arg, text, '1000');
    assert.match(issueAt(issues, 'task.workingDir').message, /must not be empty/);
    const env = issueAt(issues, 'task.env["1A"]');
    assert.match(env.message, /not a valid environment variable name/);
    assertAt(env, text, '1A');
    const empty = parseBad('name: x\ntask: { command: [] }\n');
    assert.match(issueAt(empty, 'task.command').message, /must not be empty/);
    const noProgram = parseBad('name: x\ntask: { command: [""] }\n');
    assert.match(issueAt(noProgram, 'task.command[0]').message, /program name/);
  });

  test('rollout and restart settings that could never work', () => {
    const text = `${MINIMAL}update:
  maxUnavailable: 0
  maxSurge: 0
  minHealthy: 10m
  autoRollback: "yes"
`;
    const issues = parseBad(text);
    const zero = issueAt(issues, 'update.maxUnavailable');
    assert.match(zero.message, /cannot both be 0/);
    assertAt(zero, text, '0');
    // deadline was not written (default 5m): reported at the parent key.
    const deadline = issueAt(issues, 'update.deadline');
    assert.equal(deadline.message, 'must be longer than minHealthy (10m)');
    assert.equal(deadline.found, '"5m"');
    assertAt(deadline, text, 'update');
    assert.match(issueAt(issues, 'update.autoRollback').message, /without quotes/);
    const restart = `${MINIMAL}  restart: { backoff: 10m }\n`;
    const backoff = issueAt(parseBad(restart), 'task.restart.maxBackoff');
    assert.equal(backoff.message, 'must be at least backoff (10m)');
    assertAt(backoff, restart, 'restart');
    const policy = issueAt(parseBad(`${MINIMAL}  restart: { policy: Always }\n`), 'task.restart.policy');
    assert.match(policy.message, /did you mean "always"/);
  });

  test('placement rules', () => {
    const text = `${MINIMAL}placement:
  spread: [{ attribute: rack }, { attribute: rack, min: 0 }]
  constraints:
    - { attribute: region }
    - { attribute: region, equals: prn, not: ash }
    - { attribute: zone, regex: "([a-" }
    - { attribute: gen, equals: 3 }
    - { attribute: "bad attr", in: [] }
`;
    const issues = parseBad(text);
    assert.match(issueAt(issues, 'placement.spread[1].attribute').message, /duplicate spread attribute/);
    assert.equal(issueAt(issues, 'placement.spread[1].min').message, 'must be at least 1');
    assert.match(issueAt(issues, 'placement.constraints[0]').message, /needs an operator/);
    assertAt(issueAt(issues, 'placement.constraints[0]'), text, '{ attribute: region }');
    assert.match(
      issueAt(issues, 'placement.constraints[1].not').message,
      /more than one operator \(equals, not\)/,
    );
    assert.match(issueAt(issues, 'placement.constraints[2].regex').message, /not a valid regular expression/);
    assert.match(issueAt(issues, 'placement.constraints[3].equals').message, /quote it: "3"/);
    assert.match(issueAt(issues, 'placement.constraints[4].attribute').message, /not a valid attribute/);
    assert.match(issueAt(issues, 'placement.constraints[4].in').message, /must not be empty/);
  });

  test('all errors come back at once, in file order', () => {
    const issues = parseBad(`name: BAD
replicas: -1
task:
  command: run
  resources: { memory: 64mb, cpu: 0 }
  health: { liveness: { tcp: { port: 80 }, interval: 1 } }
update: { deadline: forever }
placement: { spreed: [] }
`);
    assert.deepEqual(
      issues.map((i) => i.path),
      [
        'name',
        'replicas',
        'task.command',
        'task.resources.memory',
        'task.resources.cpu',
        'task.health.liveness.interval',
        'update.deadline',
        'placement.spreed',
      ],
    );
    const lines = issues.map((i) => i.line ?? 0);
    assert.deepEqual(
      lines,
      [...lines].sort((a, b) => a - b),
    );
  });
});
