/** Job files with YAML-level errors: syntax, tabs, duplicate keys, documents, aliases. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ValidationIssue } from '../errors/dabba-error.ts';
import { formatIssues } from './job-file.ts';
import { parseBad, issueAt, assertAt, MINIMAL } from './job-file-fixtures.ts';

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
