/** Schema errors, located: wrong types, unknown fields, bad numbers. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBad, issueAt, assertAt } from './job-file-fixtures.ts';

describe('schema errors are located', () => {
  test('wrong types', () => {
    const text = `name: 123
replicas: "3"
task:
  command: httpd -f -p 8080
  resources: 2
  ports: { name: http }
  env: { PORT: 8080, DEBUG: true, EMPTY: }
`;
    const issues = parseBad(text);
    const name = issueAt(issues, 'name');
    assert.match(name.message, /quote it/);
    assertAt(name, text, '123');
    const replicas = issueAt(issues, 'replicas');
    assert.match(replicas.message, /without quotes/);
    assert.equal(replicas.found, '"3"');
    assertAt(replicas, text, '"3"');
    const command = issueAt(issues, 'task.command');
    assert.match(command.message, /write it as \["httpd","-f","-p","8080"\]/);
    assertAt(command, text, 'httpd');
    const resources = issueAt(issues, 'task.resources');
    assert.deepEqual([resources.expected, resources.found], ['a mapping', '2']);
    assertAt(resources, text, '2\n');
    const ports = issueAt(issues, 'task.ports');
    assert.deepEqual([ports.expected, ports.found], ['a list', 'a mapping']);
    assertAt(ports, text, 'ports');
    const port = issueAt(issues, 'task.env.PORT');
    assert.match(port.message, /quote it: PORT: "8080"/);
    assert.equal(port.found, '8080');
    assertAt(port, text, '8080', 2);
    assert.match(issueAt(issues, 'task.env.DEBUG').message, /quote it: DEBUG: "true"/);
    assert.match(issueAt(issues, 'task.env.EMPTY').message, /EMPTY: ""/);
  });

  test('unknown fields point at the key, with did-you-mean', () => {
    const text = `name: x
replica: 2
task:
  comand: [run]
  resources: { memroy: 1Gi, cpus: 2 }
  health:
    liveness: { httpGet: { port: 80 }, periodSeconds: 3s }
update: { max_surge: 2, bogus: 1 }
`;
    const issues = parseBad(text);
    const replica = issueAt(issues, 'replica');
    assert.equal(replica.message, 'unknown field "replica"; did you mean "replicas"?');
    assert.equal(
      replica.expected,
      'one of: name, namespace, replicas, task, update, placement, taskControl, type, completions, parallelism, retries, deadline, priority, pool, scaling',
    );
    assertAt(replica, text, 'replica');
    assert.match(issueAt(issues, 'task.comand').message, /did you mean "command"/);
    assertAt(issueAt(issues, 'task.comand'), text, 'comand');
    // The misspelt field also leaves a required one missing: reported at its parent's key.
    const command = issueAt(issues, 'task.command');
    assert.equal(command.message, 'is required');
    assertAt(command, text, 'task');
    assert.match(issueAt(issues, 'task.resources.memroy').message, /did you mean "memory"/);
    assertAt(issueAt(issues, 'task.resources.memroy'), text, 'memroy');
    assert.match(issueAt(issues, 'task.resources.cpus').message, /did you mean "cpu"/);
    assert.match(issueAt(issues, 'task.health.liveness.httpGet').message, /did you mean "http"/);
    assert.match(issueAt(issues, 'task.health.liveness.periodSeconds').message, /did you mean "interval"/);
    assert.match(issueAt(issues, 'update.max_surge').message, /did you mean "maxSurge"/);
    assertAt(issueAt(issues, 'update.max_surge'), text, 'max_surge');
    assert.equal(issueAt(issues, 'update.bogus').message, 'unknown field "bogus"');
  });

  test('negative and absurd numbers', () => {
    const text = `name: x
replicas: -1
task:
  command: [run]
  resources: { cpu: 0, memory: 99Ti, pids: 5000000 }
  ports: [{ name: http, port: 70000 }]
`;
    const issues = parseBad(text);
    const replicas = issueAt(issues, 'replicas');
    assert.deepEqual(
      [replicas.message, replicas.expected, replicas.found],
      ['must be at least 0', 'an integer from 0 to 10000', '-1'],
    );
    assertAt(replicas, text, '-1');
    assert.equal(issueAt(issues, 'task.resources.cpu').message, 'must be greater than 0');
    const memory = issueAt(issues, 'task.resources.memory');
    assert.deepEqual([memory.message, memory.found], ['must be at most 1Ti', '"99Ti"']);
    assertAt(memory, text, '99Ti');
    assert.equal(issueAt(issues, 'task.resources.pids').message, 'must be at most 4194304');
    assertAt(issueAt(issues, 'task.ports[0].port'), text, '70000');
  });
});
