/** Jobs as JSON bodies (validateJob), and formatIssues. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIssues, validateJob } from './job-file.ts';
import { MI, parseBad, MINIMAL } from './job-file-fixtures.ts';

describe('validateJob (JSON bodies)', () => {
  test('valid JSON value', () => {
    const r = validateJob({ name: 'api', task: { command: ['serve'], resources: { memory: '1Gi' } } });
    assert.ok(r.ok);
    assert.equal(r.spec.task.resources.memoryBytes, 1024 * MI);
  });

  test('control characters in a string field are refused; ordinary text is not', () => {
    for (const bad of ['busybox\u0000', 'bu\u001fsy', 'box\u007f']) {
      const r = validateJob({ name: 'api', task: { command: ['serve'], image: bad } });
      assert.ok(!r.ok, JSON.stringify(bad));
      assert.match(r.issues[0]?.message ?? '', /must not contain control characters/);
    }
    assert.ok(
      validateJob({ name: 'api', task: { command: ['serve'], image: 'registry.é/busybox:1.36' } }).ok,
    );
  });

  test('issues carry paths but no positions', () => {
    const r = validateJob({
      name: 'api',
      replicas: 1.5,
      task: { command: ['serve'], ports: [{ name: 'http', port: 0 }] },
      x: 1,
    });
    assert.ok(!r.ok);
    assert.deepEqual(
      r.issues.map((i) => [i.path, i.message]),
      [
        ['replicas', 'must be a whole number'],
        ['task.ports[0].port', 'must be at least 1'],
        ['x', 'unknown field "x"'],
      ],
    );
    for (const i of r.issues) assert.deepEqual([i.file, i.line, i.column], [undefined, undefined, undefined]);
  });

  test('a body that is not an object', () => {
    for (const body of [null, 'name: x', [], 3]) {
      const r = validateJob(body);
      assert.ok(!r.ok);
      assert.equal(r.issues.length, 1);
      assert.equal(r.issues[0]?.path, '');
      assert.equal(r.issues[0]?.expected, 'a mapping');
    }
  });

  test('__proto__ as an env name is an ordinary key', () => {
    const r = validateJob(JSON.parse('{"name":"x","task":{"command":["a"],"env":{"__proto__":"v"}}}'));
    assert.ok(r.ok);
    assert.deepEqual(Object.keys(r.spec.task.env), ['__proto__']);
    assert.equal(Object.getPrototypeOf(r.spec.task.env), Object.prototype);
  });
});

describe('formatIssues', () => {
  test('compiler-style lines', () => {
    const issues = parseBad(`${MINIMAL}  resources: { memory: 64mb }\nreplica: 3\n`);
    assert.equal(
      formatIssues(issues),
      [
        'job.yaml:4:24: task.resources.memory: is not a size; did you mean "64Mi"? (expected a size from 1Mi to 1Ti, such as 64Mi, 512Mi or 2Gi, found "64mb")',
        'job.yaml:5:1: replica: unknown field "replica"; did you mean "replicas"? (expected one of: name, namespace, replicas, task, update, placement, taskControl, type, completions, parallelism, retries, deadline, priority, pool, scaling)',
      ].join('\n'),
    );
  });

  test('without file or position', () => {
    assert.equal(
      formatIssues([
        { path: 'a.b', message: 'bad', expected: 'x' },
        { path: '', message: 'whole thing', file: 'f.yaml' },
      ]),
      'a.b: bad (expected x)\nf.yaml: whole thing',
    );
  });
});
