import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ValidationIssue } from '../errors/dabba-error.ts';
import { formatIssues, parseJobFile, toUserForm, validateJob } from './job-file.ts';
import type { JobSpec } from './job.ts';
import { portProtocol } from './job.ts';

const MI = 1024 * 1024;

/** The job file of ARCHITECTURE.md section 5, verbatim. */
const ARCHITECTURE_EXAMPLE = `name: hello
replicas: 3
task:
  image: busybox                     # imported image name (optional with the process runtime)
  command: ["httpd", "-f", "-p", "8080"]
  env: { GREETING: hi }
  resources: { cpu: 0.25, memory: 64Mi, pids: 64 }
  ports: [{ name: http, port: 8080 }]
  health:
    liveness:  { http: { port: http, path: / }, interval: 2s, timeout: 1s, failures: 3 }
    readiness: { tcp: { port: http } }
  restart: { policy: always }        # always | on-failure | never, with exponential backoff
update: { maxUnavailable: 1, maxSurge: 1, canary: 0, minHealthy: 5s, deadline: 5m, autoRollback: true }
placement:
  spread: [{ attribute: rack }]      # fault-domain intent
  constraints: [{ attribute: region, equals: prn }]
`;

function parseOk(text: string): JobSpec {
  const r = parseJobFile(text, 'job.yaml');
  if (!r.ok) assert.fail(`expected success, got:\n${formatIssues(r.issues)}`);
  return r.spec;
}

function parseBad(text: string): ValidationIssue[] {
  const r = parseJobFile(text, 'job.yaml');
  if (r.ok) assert.fail('expected validation issues, got a valid spec');
  assert.ok(r.issues.length > 0);
  return r.issues;
}

/** The only issue at `path`, asserting there is exactly one. */
function issueAt(issues: ValidationIssue[], path: string): ValidationIssue {
  const found = issues.filter((i) => i.path === path);
  assert.equal(found.length, 1, `one issue at ${path}, got:\n${formatIssues(issues)}`);
  return found[0] as ValidationIssue;
}

/** Line and column (1-based) where `needle` starts in `text` (its `nth` occurrence). */
function where(text: string, needle: string, nth = 1): [number, number] {
  let at = -1;
  for (let k = 0; k < nth; k++) {
    at = text.indexOf(needle, at + 1);
    assert.ok(at >= 0, `${needle} not in text`);
  }
  const before = text.slice(0, at).split('\n');
  return [before.length, (before.at(-1) ?? '').length + 1];
}

/** Asserts the issue points at the `nth` occurrence of `needle` in `text`. */
function assertAt(issue: ValidationIssue, text: string, needle: string, nth = 1): void {
  assert.deepEqual([issue.line, issue.column], where(text, needle, nth), formatIssues([issue]));
  assert.equal(issue.file, 'job.yaml');
}

const MINIMAL = 'name: x\ntask:\n  command: [run]\n';

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

describe('YAML-level errors', () => {
  test('a syntax error has line and column and stops there', () => {
    const text = 'name: x\ntask:\n  command: [run\nreplicas: -5\n';
    const issues = parseBad(text);
    assert.equal(issues.length, 1, formatIssues(issues));
    const [i] = issues as [ValidationIssue];
    assert.match(i.message, /^invalid YAML: /);
    assert.equal(i.path, '');
    assertAt(i, text, 'replicas');
  });

  test('tabs used as indentation', () => {
    const text = 'name: x\ntask:\n\tcommand: [run]\n';
    const [i] = parseBad(text) as [ValidationIssue];
    assert.match(i.message, /Tabs/);
    assertAt(i, text, '\tcommand');
  });

  test('duplicate keys are errors, with both positions, alongside schema errors', () => {
    const text = 'name: x\nreplicas: 2\ntask:\n  command: [run]\n  env: { A: "1", A: "2" }\nreplicas: -1\n';
    const issues = parseBad(text);
    const dup = issues.find((i) => i.message.startsWith('duplicate key "replicas"'));
    assert.ok(dup, formatIssues(issues));
    assert.equal(dup.path, 'replicas');
    assert.equal(dup.message, 'duplicate key "replicas" (first defined at line 2, column 1)');
    assertAt(dup, text, 'replicas', 2);
    // The value that wins (the last) is validated too, in the same pass.
    assert.ok(issues.some((i) => i.path === 'replicas' && i.message === 'must be at least 0'));
    const envDup = issueAt(issues, 'task.env.A');
    assert.equal(envDup.message, 'duplicate key "A" (first defined at line 5, column 10)');
    assertAt(envDup, text, 'A: "2"');
  });

  test('several documents in one file are an error', () => {
    const text = 'name: a\ntask: { command: [x] }\n---\nname: b\n';
    const [i, ...rest] = parseBad(text) as [ValidationIssue];
    assert.equal(rest.length, 0);
    assert.match(i.message, /one YAML document/);
    assertAt(i, text, '---');
  });

  test('an empty file, and a file that is not a mapping', () => {
    assert.match((parseBad('# nothing\n')[0] as ValidationIssue).message, /empty/);
    const [list] = parseBad('- name: x\n') as [ValidationIssue];
    assert.match(list.message, /must be a mapping/);
    assert.equal(list.found, 'a list');
    assert.deepEqual([list.line, list.column], [1, 1]);
  });

  test('an alias bomb is refused', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) {
      const prev = String.fromCharCode(96 + i);
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${prev}`).join(', ')}]`,
      );
    }
    const started = performance.now();
    const [i, ...rest] = parseBad(`${levels.join('\n')}\n`) as [ValidationIssue];
    assert.equal(rest.length, 0);
    assert.match(i.message, /alias/i);
    assert.ok(performance.now() - started < 1000);
  });

  test('an alias without anchor, and an unknown tag', () => {
    const text = 'name: x\ntask: *nope\n';
    const [alias] = parseBad(text) as [ValidationIssue];
    assert.match(alias.message, /alias \*nope has no anchor/);
    assertAt(alias, text, '*nope');
    const tag = parseBad(`${MINIMAL}  image: !custom busybox\n`);
    assert.ok(
      tag.some((i) => /Unresolved tag/.test(i.message) && i.line === 4),
      formatIssues(tag),
    );
  });
});

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
