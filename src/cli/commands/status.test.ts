import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJobFile, toUserForm } from '../../model/files.ts';
import type { JobView, TaskRow } from '../../model/index.ts';
import { endpointsOf, taskControlBlock } from './status.ts';

function row(id: string, address: string, ports: Record<string, number>): TaskRow {
  return {
    id,
    job: 'cache',
    namespace: 'default',
    host: 'h1',
    state: 'running',
    desired: 'run',
    healthy: true,
    ready: true,
    restarts: 0,
    version: 1,
    address,
    ports,
    pid: 42,
    exitCode: null,
    lastExit: null,
    reason: null,
    message: null,
    unplaced: null,
    explanation: null,
    startedAt: 1,
    createdAt: 1,
    usage: null,
  };
}

function viewOf(yaml: string, tasks: TaskRow[]): JobView {
  const r = parseJobFile(yaml, 'job.yaml');
  if (!r.ok) assert.fail(r.issues.map((i) => i.message).join('; '));
  return {
    job: r.spec.name,
    namespace: 'default',
    version: 1,
    status: 'active',
    replicas: tasks.length,
    spec: toUserForm(r.spec),
    createdAt: 1,
    updatedAt: 1,
    deployment: null,
    counts: { running: tasks.length, healthy: tasks.length, pending: 0, failed: 0, total: tasks.length },
    tasks,
  };
}

test('endpoints: http:// only for http ports; a redis port is tcp://, a udp port udp://', () => {
  const view = viewOf(
    `name: cache
task:
  command: [redis-server]
  ports:
    - { name: redis, port: 6379 }
    - { name: metrics, port: 9121 }
    - { name: dns, port: 53, protocol: udp }
    - { name: http, port: 8080, protocol: tcp }
`,
    [row('cache-abcde', '10.88.0.7', { redis: 6379, metrics: 9121, dns: 53, http: 8080 })],
  );
  assert.deepEqual(endpointsOf(view), [
    'redis: tcp://10.88.0.7:6379  (cache-abcde)',
    'metrics: http://10.88.0.7:9121  (cache-abcde)',
    'dns: udp://10.88.0.7:53  (cache-abcde)',
    'http: tcp://10.88.0.7:8080  (cache-abcde)',
  ]);
});

test('endpoints: a job file written before protocols existed still prints http:// for its http port', () => {
  const view = viewOf('name: hello\ntask:\n  command: [httpd]\n  ports: [{ name: http, port: 8080 }]\n', [
    row('hello-k2x9a', '127.0.0.1', { http: 21000 }),
  ]);
  assert.deepEqual(endpointsOf(view), ['http: http://127.0.0.1:21000  (hello-k2x9a)']);
  // A task whose port the current spec does not list (another version) follows the name rule.
  const other = { ...view, tasks: [row('hello-zzzzz', '127.0.0.1', { 'admin-http': 1, db: 2 })] };
  assert.deepEqual(endpointsOf(other), [
    'admin-http: http://127.0.0.1:1  (hello-zzzzz)',
    'db: tcp://127.0.0.1:2  (hello-zzzzz)',
  ]);
});

test('status lists what waits on the controller, since when, its deadline and the last error', () => {
  const view = viewOf('name: kv\ntask:\n  command: [kv]\n', [row('kv-aaaaa', '10.0.0.1', {})]);
  assert.deepEqual(taskControlBlock(view), [], 'nothing when nothing waits');
  const now = Date.now();
  view.taskControl = {
    job: 'kv',
    url: 'http://ctl:9000/',
    sequence: 3,
    lastError: 'controller unreachable: connect ECONNREFUSED',
    waiting: [
      {
        id: 'move:kv-aaaaa',
        task: 'kv-aaaaa',
        op: 'move',
        host: 'h1',
        reason: 'host h1 is draining',
        deadline: Date.UTC(2026, 11, 6, 4, 0, 0),
        since: now - 5000,
      },
    ],
  };
  const [block] = taskControlBlock(view, now);
  assert.ok(block !== undefined);
  assert.match(
    block,
    /^1 operation waiting on the controller \(http:\/\/ctl:9000\/\); last request failed: .*ECONNREFUSED/,
  );
  assert.match(
    block,
    /move kv-aaaaa on h1: waiting since 5s ago, proceeds at 2026-12-06T04:00:00.000Z \(host h1 is draining\)/,
  );
});
