/** Job files that are valid: the normalized spec and its defaults. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toUserForm } from './job-file.ts';
import type { JobSpec } from './job.ts';
import { MI, ARCHITECTURE_EXAMPLE, parseOk, MINIMAL } from './job-file-fixtures.ts';

describe('valid job files', () => {
  test('the ARCHITECTURE.md example parses to the normalized spec', () => {
    assert.deepEqual(parseOk(ARCHITECTURE_EXAMPLE), {
      name: 'hello',
      replicas: 3,
      task: {
        image: 'busybox',
        command: ['httpd', '-f', '-p', '8080'],
        env: { GREETING: 'hi' },
        resources: { cpu: 0.25, memoryBytes: 64 * MI, pids: 64 },
        ports: [{ name: 'http', port: 8080, protocol: 'tcp' }],
        health: {
          liveness: {
            action: { http: { port: 'http', path: '/', scheme: 'http' } },
            intervalMs: 2000,
            timeoutMs: 1000,
            failures: 3,
            successes: 1,
            initialDelayMs: 0,
            startPeriodMs: 30_000,
          },
          readiness: {
            action: { tcp: { port: 'http' } },
            intervalMs: 10_000,
            timeoutMs: 1000,
            failures: 3,
            successes: 1,
            initialDelayMs: 0,
            startPeriodMs: 30_000,
          },
        },
        restart: { policy: 'always', initialBackoffMs: 1000, maxBackoffMs: 300_000 },
        stopGracePeriodMs: 10_000,
      },
      update: {
        maxUnavailable: 1,
        maxSurge: 1,
        canary: 0,
        minHealthyMs: 5000,
        deadlineMs: 300_000,
        autoRollback: true,
        autoPromote: false,
      },
      placement: { spread: [{ attribute: 'rack' }], constraints: [{ attribute: 'region', equals: 'prn' }] },
    } satisfies JobSpec);
  });

  test('the same job written as JSON parses identically', () => {
    const spec = parseOk(ARCHITECTURE_EXAMPLE);
    assert.deepEqual(parseOk(JSON.stringify(toUserForm(spec), null, 2)), spec);
  });

  test('task.metrics survives the user form (what deploy sends and the server reads)', () => {
    const spec = parseOk(`${MINIMAL}  ports: [{ name: http, port: 8080 }]\n  metrics: { port: http }\n`);
    assert.deepEqual(parseOk(JSON.stringify(toUserForm(spec))).task.metrics, {
      port: 'http',
      path: '/metrics',
    });
  });

  test('a minimal file gets every default', () => {
    assert.deepEqual(parseOk(MINIMAL), {
      name: 'x',
      replicas: 1,
      task: {
        command: ['run'],
        env: {},
        resources: { cpu: 0.1, memoryBytes: 64 * MI, pids: 256 },
        ports: [],
        health: {},
        restart: { policy: 'always', initialBackoffMs: 1000, maxBackoffMs: 300_000 },
        stopGracePeriodMs: 10_000,
      },
      update: {
        maxUnavailable: 1,
        maxSurge: 1,
        canary: 0,
        minHealthyMs: 5000,
        deadlineMs: 300_000,
        autoRollback: true,
        autoPromote: false,
      },
      placement: { spread: [], constraints: [] },
    } satisfies JobSpec);
  });

  test('probe and http defaults', () => {
    const spec = parseOk(
      `${MINIMAL}  health:\n    liveness: { http: { port: 8080 } }\n    readiness: { exec: { command: [check] } }\n`,
    );
    assert.deepEqual(spec.task.health.liveness, {
      action: { http: { port: 8080, path: '/', scheme: 'http' } },
      intervalMs: 10_000,
      timeoutMs: 1000,
      failures: 3,
      successes: 1,
      initialDelayMs: 0,
      startPeriodMs: 30_000,
    });
    assert.deepEqual(spec.task.health.readiness?.action, { exec: { command: ['check'] } });
  });
});
