/**
 * Reading job files: YAML (or JSON, a subset of YAML) text -> JobSpec, with every problem reported at
 * once as ValidationIssues located by line and column; and JobSpec -> user form for the wire.
 */
import { LineCounter, parseDocument, visit } from 'yaml';
import type { ValidationIssue } from '../errors/dabba-error.ts';
import type { JobSpec } from './job.ts';
import { jobFileSchema } from './job-schema.ts';
import { convertIssues, formatPath } from './job-file/zod-issues.ts';
import { findDuplicateKeys, firstLine, locate, sortByPosition } from './job-file/yaml-positions.ts';

export { describeValue, formatPath } from './job-file/zod-issues.ts';
export { knownFields, suggestField } from './job-file/fields.ts';
export { findDuplicateKeys, firstLine, locate, sortByPosition, type Pos } from './job-file/yaml-positions.ts';
export { formatExactSize, toUserForm } from './job-file/user-form.ts';
export { formatIssue, formatIssues } from './issues.ts';

export type JobValidationResult = { ok: true; spec: JobSpec } | { ok: false; issues: ValidationIssue[] };

/**
 * Parses and validates a job file; `file` only labels the issues. A YAML syntax error (or a second
 * document) is reported alone, as nothing after it can be trusted; otherwise duplicate keys, YAML
 * warnings and every schema error come back together, each with line and column, in file order.
 */
export function parseJobFile(text: string, file: string): JobValidationResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: false, // reported below, with the path and the first occurrence
    merge: true,
    strict: true,
  });
  const pos = (offset: number): { line: number; column: number } => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const issues: ValidationIssue[] = [];

  for (const e of doc.errors) {
    const message =
      e.code === 'MULTIPLE_DOCS'
        ? 'a job file holds one YAML document, but a second one starts here (remove the "---" line or split the file)'
        : `invalid YAML: ${firstLine(e.message)}`;
    issues.push({ path: '', message, file, ...pos(e.pos[0]) });
  }
  if (issues.length > 0) return { ok: false, issues: sortByPosition(issues) };

  for (const w of doc.warnings) {
    issues.push({ path: '', message: `invalid YAML: ${firstLine(w.message)}`, file, ...pos(w.pos[0]) });
  }
  let danglingAlias = false;
  visit(doc, {
    Alias(_, node) {
      if (node.resolve(doc) === undefined) {
        danglingAlias = true;
        const at = node.range?.[0] ?? 0;
        issues.push({ path: '', message: `alias *${node.source} has no anchor before it`, file, ...pos(at) });
      }
    },
  });
  findDuplicateKeys(doc.contents, [], (path, key, first) => {
    const f = pos(first.range?.[0] ?? 0);
    issues.push({
      path: formatPath(path),
      message: `duplicate key "${String(path.at(-1))}" (first defined at line ${f.line}, column ${f.column})`,
      file,
      ...pos(key.range?.[0] ?? 0),
    });
  });
  if (danglingAlias) return { ok: false, issues: sortByPosition(issues) };

  if (doc.contents === null) {
    issues.push({
      path: '',
      message: 'the job file is empty (it needs at least name and task)',
      expected: 'a mapping',
      file,
      line: 1,
      column: 1,
    });
    return { ok: false, issues };
  }

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    issues.push({
      path: '',
      message: `invalid YAML: ${e instanceof Error ? e.message : String(e)}`,
      file,
      line: 1,
      column: 1,
    });
    return { ok: false, issues: sortByPosition(issues) };
  }

  const result = jobFileSchema.safeParse(value, { reportInput: true });
  if (result.success && issues.length === 0) return { ok: true, spec: result.data };
  if (!result.success) {
    for (const raw of convertIssues(result.error.issues)) {
      issues.push({ ...raw.issue, file, ...locate(doc, raw.path, raw.atKey, pos) });
    }
  }
  return { ok: false, issues: sortByPosition(issues) };
}

/** Validates a job in user form that arrived as a JSON value (API bodies). Issues carry paths only. */
export function validateJob(value: unknown): JobValidationResult {
  const result = jobFileSchema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, spec: result.data };
  return { ok: false, issues: convertIssues(result.error.issues).map((r) => r.issue) };
}
