/** Schema errors, located: sizes, CPU, durations, probe ports. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOk, parseBad, issueAt, assertAt, MINIMAL } from './job-file-fixtures.ts';

describe('schema errors are located', () => {
  test('sizes with the wrong unit spelling', () => {
    for (const [written, hint] of [
      ['64mb', '64Mi'],
      ['64MB', '64Mi'],
      ['1gb', '1Gi'],
      ['512m', '512Mi'],
      ['64MiB', '64Mi'],
    ] as const) {
      const text = `${MINIMAL}  resources: { memory: ${written} }\n`;
      const i = issueAt(parseBad(text), 'task.resources.memory');
      assert.equal(i.message, `is not a size; did you mean "${hint}"?`, written);
      assert.equal(i.found, JSON.stringify(written));
      assertAt(i, text, written);
    }
    const small = issueAt(parseBad(`${MINIMAL}  resources: { memory: 512Ki }\n`), 'task.resources.memory');
    assert.match(small.message, /at least 1Mi/);
    const negative = issueAt(parseBad(`${MINIMAL}  resources: { memory: -64Mi }\n`), 'task.resources.memory');
    assert.match(negative.message, /negative/);
  });

  test('CPU in cores and millicores', () => {
    const cpu = (v: string): number => parseOk(`${MINIMAL}  resources: { cpu: ${v} }\n`).task.resources.cpu;
    assert.equal(cpu('0.25'), 0.25);
    assert.equal(cpu('"250m"'), 0.25);
    assert.equal(cpu('"2"'), 2);
    assert.equal(cpu('1024'), 1024);
    assert.equal(cpu('1m'), 0.001);
    const bad = (v: string): string =>
      issueAt(parseBad(`${MINIMAL}  resources: { cpu: ${v} }\n`), 'task.resources.cpu').message;
    assert.match(bad('1025'), /at most 1024/);
    assert.match(bad('-1'), /greater than 0/);
    assert.match(bad('0.0001'), /1m \(0.001 core\) resolution/);
    assert.match(bad('2.5m'), /whole number/);
    assert.match(bad('two'), /not a CPU amount/);
    assert.match(bad('true'), /number of cores/);
  });

  test('bad durations', () => {
    const text = `name: x
task:
  command: [run]
  stopGracePeriod: 5 minutes
  health:
    liveness: { tcp: { port: 80 }, interval: 2, timeout: 2h, initialDelay: 1d }
  restart: { backoff: 1s2 }
update: { deadline: 10sec, minHealthy: -1s }
`;
    const issues = parseBad(text);
    const grace = issueAt(issues, 'task.stopGracePeriod');
    assert.equal(grace.message, 'is not a duration; did you mean "5m"?');
    assertAt(grace, text, '5 minutes');
    const interval = issueAt(issues, 'task.health.liveness.interval');
    assert.match(interval.message, /needs a unit: write "2s"/);
    assertAt(interval, text, '2,');
    assert.equal(issueAt(issues, 'task.health.liveness.timeout').message, 'must be at most 1h');
    assert.equal(
      issueAt(issues, 'task.health.liveness.initialDelay').message,
      'is not a duration; did you mean "24h"?',
    );
    assert.equal(issueAt(issues, 'task.restart.backoff').message, 'is not a duration');
    assertAt(issueAt(issues, 'task.restart.backoff'), text, '1s2');
    assert.match(issueAt(issues, 'update.deadline').message, /did you mean "10s"/);
    assert.equal(issueAt(issues, 'update.minHealthy').message, 'is not a duration');
    assert.match(issueAt(issues, 'update.minHealthy').expected ?? '', /from 0s to 1h/);
  });

  test('probe ports must refer to declared ports', () => {
    const text = `name: x
task:
  command: [run]
  ports: [{ name: http, port: 8080 }, { name: admin, port: 9090 }]
  health:
    liveness: { http: { port: htp }, interval: 2 }
    readiness: { tcp: { port: "9090" } }
`;
    const issues = parseBad(text);
    // Reported together with the probe's other problem, not after it is fixed.
    assert.match(issueAt(issues, 'task.health.liveness.interval').message, /needs a unit/);
    const live = issueAt(issues, 'task.health.liveness.http.port');
    assert.equal(live.message, 'refers to port "htp", which task.ports does not declare');
    assert.equal(live.expected, 'one of the declared ports (http, admin) or a port number');
    assert.equal(live.found, '"htp"');
    assertAt(live, text, 'htp');
    assert.match(issueAt(issues, 'task.health.readiness.tcp.port').message, /without quotes/);
    const none = parseBad(`${MINIMAL}  health: { readiness: { tcp: { port: web } } }\n`);
    assert.match(issueAt(none, 'task.health.readiness.tcp.port').message, /task.ports declares none/);
  });
});
