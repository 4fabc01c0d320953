/** Valid job files in their other accepted forms (spelled-out fields, YAML anchors), and taskControl. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIssues, toUserForm, validateJob } from './job-file.ts';
import { MI, parseOk } from './job-file-fixtures.ts';

describe('valid job files', () => {
  test('every field spelled out, in its other accepted forms', () => {
    const spec = parseOk(`
$schema: ../schema/job.schema.json
name: web-2
replicas: 0
task:
  command: [sh, -c, "exec server"]
  workingDir: /srv/app
  env: { EMPTY: "", PORT: "8080" }
  resources: { cpu: "1500m", memory: 1073741824, pids: 4194304 }
  ports:
    - { name: http, port: 80, protocol: tcp }
    - { name: admin-api, port: 9000 }
  health:
    liveness: { tcp: { port: admin-api }, interval: 100ms, timeout: 10ms, failures: 100, successes: 100, initialDelay: 1h, startPeriod: 0 }
  restart: { policy: on-failure, backoff: 10ms, maxBackoff: 24h }
  stopGracePeriod: 0
update: { maxUnavailable: 0, maxSurge: 10000, canary: 2, minHealthy: 0, deadline: 1s, autoRollback: false, autoPromote: true }
placement:
  spread: [{ attribute: rack, min: 3 }, { attribute: topology.kubernetes.io/zone }]
  constraints:
    - { attribute: region, in: [prn, ash] }
    - { attribute: kernel, not: "4.19" }
    - { attribute: host, regex: "^web-[0-9]+$" }
`);
    assert.equal(spec.replicas, 0);
    assert.equal(spec.task.workingDir, '/srv/app');
    assert.deepEqual(spec.task.env, { EMPTY: '', PORT: '8080' });
    assert.deepEqual(spec.task.resources, { cpu: 1.5, memoryBytes: 1024 * MI, pids: 4_194_304 });
    assert.deepEqual(spec.task.ports[1], { name: 'admin-api', port: 9000, protocol: 'tcp' });
    assert.deepEqual(spec.task.health.liveness, {
      action: { tcp: { port: 'admin-api' } },
      intervalMs: 100,
      timeoutMs: 10,
      failures: 100,
      successes: 100,
      initialDelayMs: 3_600_000,
      startPeriodMs: 0,
    });
    assert.deepEqual(spec.task.restart, {
      policy: 'on-failure',
      initialBackoffMs: 10,
      maxBackoffMs: 86_400_000,
    });
    assert.equal(spec.task.stopGracePeriodMs, 0);
    assert.deepEqual(spec.update, {
      maxUnavailable: 0,
      maxSurge: 10_000,
      canary: 2,
      minHealthyMs: 0,
      deadlineMs: 1000,
      autoRollback: false,
      autoPromote: true,
    });
    assert.deepEqual(spec.placement, {
      spread: [{ attribute: 'rack', min: 3 }, { attribute: 'topology.kubernetes.io/zone' }],
      constraints: [
        { attribute: 'region', in: ['prn', 'ash'] },
        { attribute: 'kernel', not: '4.19' },
        { attribute: 'host', regex: '^web-[0-9]+$' },
      ],
    });
    assert.equal('$schema' in spec, false);
  });

  test('YAML anchors, aliases and merge keys work', () => {
    const spec = parseOk(`name: x
task:
  command: [run]
  ports: [{ name: http, port: 80 }]
  health:
    liveness: &probe { http: { port: http }, interval: 5s }
    readiness:
      <<: *probe
      failures: 1
`);
    assert.equal(spec.task.health.readiness?.intervalMs, 5000);
    assert.equal(spec.task.health.readiness?.failures, 1);
    assert.deepEqual(spec.task.health.liveness?.action, spec.task.health.readiness?.action);
  });
});

test('taskControl: defaults, round trip through the user form, and a bad URL', () => {
  const r = validateJob({
    name: 'kv',
    task: { command: ['sleep', '1'] },
    taskControl: { url: 'http://10.0.0.5:9000/tc' },
  });
  assert.ok(r.ok);
  assert.deepEqual(r.spec.taskControl, {
    url: 'http://10.0.0.5:9000/tc',
    timeoutMs: 5000,
    hostFailureWaitMs: 60_000,
  });
  const back = validateJob(toUserForm(r.spec));
  assert.ok(back.ok);
  assert.deepEqual(back.spec, r.spec);
  const bad = validateJob({
    name: 'kv',
    task: { command: ['sleep', '1'] },
    taskControl: { url: 'ftp://x/' },
  });
  assert.ok(!bad.ok);
  assert.match(formatIssues(bad.issues), /taskControl\.url.*http/);
});
