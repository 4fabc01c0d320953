/** `scaling.metric` in the job file: what parses, the errors where they are, and the user form. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIssues, type JobSpec } from './index.ts';
import { parseJobFile, toUserForm } from './files.ts';

const job = (scaling: string): string => `name: web
task:
  command: ["node", "server.mjs"]
  ports: [{ name: http, port: 8080 }]
scaling:
${scaling}`;

function parse(text: string): ReturnType<typeof parseJobFile> {
  return parseJobFile(text, 'job.yaml');
}

test('a metric parses with its defaults and comes back in user form', () => {
  const r = parse(
    job(`  minReplicas: 1
  maxReplicas: 6
  metric: { name: hello_requests_total, target: 50, where: { code: "200" } }
`),
  );
  if (!r.ok) assert.fail(formatIssues(r.issues));
  const spec: JobSpec = r.spec;
  assert.deepEqual(spec.scaling?.metric, {
    name: 'hello_requests_total',
    where: { code: '200' },
    rate: true,
    target: 50,
    windowMs: 60_000,
    scaleDownDelayMs: 300_000,
  });
  const user = toUserForm(spec) as { scaling: { metric: Record<string, unknown> } };
  assert.deepEqual(user.scaling.metric, {
    name: 'hello_requests_total',
    where: { code: '200' },
    rate: true,
    target: 50,
    window: '1m',
    scaleDownDelay: '5m',
  });
});

test('bad metric settings are refused where they are, saying how to fix them', () => {
  const cases: [string, string, RegExp][] = [
    [
      `  minReplicas: 1\n  maxReplicas: 4\n  schedule: [{ at: "07:00", replicas: 4 }]\n  metric: { name: x, target: 5 }\n`,
      'scaling.metric',
      /cannot be used with a schedule/,
    ],
    [
      `  minReplicas: 1\n  maxReplicas: 4\n  metric: { name: x, target: "5" }\n`,
      'scaling.metric.target',
      /without quotes/,
    ],
    [
      `  minReplicas: 1\n  maxReplicas: 4\n  metric: { name: x, target: 0 }\n`,
      'scaling.metric.target',
      /above 0/,
    ],
    [
      `  minReplicas: 1\n  maxReplicas: 4\n  metric: { name: "a b", target: 1 }\n`,
      'scaling.metric.name',
      /not a valid series name/,
    ],
    [
      `  minReplicas: 1\n  maxReplicas: 4\n  metric: { name: x, target: 1, where: { job: other } }\n`,
      'scaling.metric.where',
      /the job sets itself/,
    ],
    [
      `  minReplicas: 1\n  maxReplicas: 4\n  metric: { name: x, target: 1, window: 1s }\n`,
      'scaling.metric.window',
      /./,
    ],
  ];
  for (const [scaling, path, message] of cases) {
    const r = parse(job(scaling));
    assert.ok(!r.ok, `refused: ${scaling}`);
    const issue = r.issues.find((i) => i.path === path);
    assert.ok(issue, `an issue at ${path}, got:\n${formatIssues(r.issues)}`);
    assert.match(issue.message, message);
    assert.ok(issue.line !== undefined && issue.line > 0, 'with its line');
  }
});
