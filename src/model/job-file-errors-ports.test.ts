/** Schema errors, located: metrics, ports and their protocols, probe actions. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toUserForm, validateJob } from './job-file.ts';
import { portProtocol } from './job.ts';
import { parseOk, parseBad, issueAt, assertAt, MINIMAL } from './job-file-fixtures.ts';

describe('schema errors are located', () => {
  test('task.metrics: a declared port and a path, with line:column errors', () => {
    const ok = parseOk(`${MINIMAL}  ports: [{ name: http, port: 8080 }]\n  metrics: { port: http }\n`);
    assert.deepEqual(ok.task.metrics, { port: 'http', path: '/metrics' });
    assert.deepEqual(parseOk(`${MINIMAL}  metrics: { port: 9100, path: /counters }\n`).task.metrics, {
      port: 9100,
      path: '/counters',
    });
    assert.equal(parseOk(MINIMAL).task.metrics, undefined);
    const text = `${MINIMAL}  ports: [{ name: http, port: 8080 }]\n  metrics: { port: htp, path: metrics }\n`;
    const issues = parseBad(text);
    const port = issueAt(issues, 'task.metrics.port');
    assert.equal(port.message, 'refers to port "htp", which task.ports does not declare');
    assertAt(port, text, 'htp');
    const path = issueAt(issues, 'task.metrics.path');
    assert.match(path.message, /must start with "\/"/);
    assertAt(path, text, 'metrics }');
    const extra = parseBad(`${MINIMAL}  metrics: { port: 9100, every: 5s }\n`);
    assert.match(issueAt(extra, 'task.metrics.every').message, /unknown field/);
  });

  test('ports: unique names and numbers, valid names', () => {
    const text = `${MINIMAL}  ports:
    - { name: http, port: 80 }
    - { name: http, port: 81 }
    - { name: other, port: 80 }
    - { name: Bad_Name, port: 82 }
    - { name: a-very-long-port-name, port: 83 }
    - { name: udp, port: 84, protocol: sctp }
`;
    const issues = parseBad(text);
    const dupName = issueAt(issues, 'task.ports[1].name');
    assert.equal(dupName.message, 'duplicate port name (already used by task.ports[0])');
    assertAt(dupName, text, 'http', 2);
    assert.match(issueAt(issues, 'task.ports[2].port').message, /duplicate port number/);
    assertAt(issueAt(issues, 'task.ports[2].port'), text, '80', 2);
    assert.match(issueAt(issues, 'task.ports[3].name').message, /not a valid port name/);
    assert.match(issueAt(issues, 'task.ports[4].name').message, /at most 15 characters/);
    assert.equal(issueAt(issues, 'task.ports[5].protocol').expected, 'one of: http, tcp, udp');
  });

  test('ports: an explicit protocol wins, else the name decides (http, web, metrics, *-http)', () => {
    const spec = parseOk(`${MINIMAL}  ports:
    - { name: http, port: 80 }
    - { name: web, port: 81 }
    - { name: metrics, port: 82 }
    - { name: admin-http, port: 83 }
    - { name: redis, port: 6379 }
    - { name: api, port: 84, protocol: http }
    - { name: legacy-http, port: 85, protocol: tcp }
    - { name: dns, port: 53, protocol: udp }
    - { name: www, port: 86, protocol: tcp }
`);
    assert.deepEqual(
      spec.task.ports.map((p) => [p.name, portProtocol(p)]),
      [
        ['http', 'http'],
        ['web', 'http'],
        ['metrics', 'http'],
        ['admin-http', 'http'],
        ['redis', 'tcp'],
        ['api', 'http'],
        ['legacy-http', 'tcp'],
        ['dns', 'udp'],
        ['www', 'tcp'],
      ],
    );
    // The normalized form of a port without protocol is what specs stored before the field held.
    assert.deepEqual(spec.task.ports[0], { name: 'http', port: 80, protocol: 'tcp' });
    assert.deepEqual(spec.task.ports[5], { name: 'api', port: 84, protocol: 'tcp', http: true });
    assert.deepEqual(spec.task.ports[6], { name: 'legacy-http', port: 85, protocol: 'tcp', http: false });
    // The user form spells the protocol out and reads back to the same spec.
    const user = toUserForm(spec) as { task: { ports: unknown[] } };
    assert.deepEqual(user.task.ports[0], { name: 'http', port: 80, protocol: 'http' });
    const again = validateJob(user);
    assert.ok(again.ok);
    assert.deepEqual(again.spec, spec);
  });

  test('ports: tcp and http probes cannot check a udp port', () => {
    const text = `${MINIMAL}  ports:
    - { name: dns, port: 53, protocol: udp }
  health:
    liveness: { tcp: { port: dns } }
`;
    const issue = issueAt(parseBad(text), 'task.health.liveness.tcp.port');
    assert.match(issue.message, /a udp port, which a tcp probe cannot check/);
  });

  test('probes need exactly one action', () => {
    const text = `${MINIMAL}  health:
    liveness: { interval: 2s }
    readiness: { tcp: { port: 80 }, exec: { command: [check] } }
`;
    const issues = parseBad(text);
    const none = issueAt(issues, 'task.health.liveness');
    assert.equal(none.message, 'needs an action: one of http, tcp or exec');
    assertAt(none, text, 'liveness');
    const two = issueAt(issues, 'task.health.readiness.exec');
    assert.match(two.message, /more than one action \(tcp, exec\)/);
    assertAt(two, text, 'exec');
  });
});
