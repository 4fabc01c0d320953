/** What the job-file tests share: the ARCHITECTURE.md example, and parse-and-locate helpers. */
import assert from 'node:assert/strict';
import type { ValidationIssue } from '../errors/dabba-error.ts';
import { formatIssues, parseJobFile } from './job-file.ts';
import type { JobSpec } from './job.ts';

export const MI = 1024 * 1024;

/** The job file of ARCHITECTURE.md section 5, verbatim. */
export const ARCHITECTURE_EXAMPLE = `name: hello
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

export function parseOk(text: string): JobSpec {
  const r = parseJobFile(text, 'job.yaml');
  if (!r.ok) assert.fail(`expected success, got:\n${formatIssues(r.issues)}`);
  return r.spec;
}

export function parseBad(text: string): ValidationIssue[] {
  const r = parseJobFile(text, 'job.yaml');
  if (r.ok) assert.fail('expected validation issues, got a valid spec');
  assert.ok(r.issues.length > 0);
  return r.issues;
}

/** The only issue at `path`, asserting there is exactly one. */
export function issueAt(issues: ValidationIssue[], path: string): ValidationIssue {
  const found = issues.filter((i) => i.path === path);
  assert.equal(found.length, 1, `one issue at ${path}, got:\n${formatIssues(issues)}`);
  return found[0] as ValidationIssue;
}

/** Line and column (1-based) where `needle` starts in `text` (its `nth` occurrence). */
export function where(text: string, needle: string, nth = 1): [number, number] {
  let at = -1;
  for (let k = 0; k < nth; k++) {
    at = text.indexOf(needle, at + 1);
    assert.ok(at >= 0, `${needle} not in text`);
  }
  const before = text.slice(0, at).split('\n');
  return [before.length, (before.at(-1) ?? '').length + 1];
}

/** Asserts the issue points at the `nth` occurrence of `needle` in `text`. */
export function assertAt(issue: ValidationIssue, text: string, needle: string, nth = 1): void {
  assert.deepEqual([issue.line, issue.column], where(text, needle, nth), formatIssues([issue]));
  assert.equal(issue.file, 'job.yaml');
}

export const MINIMAL = 'name: x\ntask:\n  command: [run]\n';
