/**
 * A one-document YAML file checked against a zod schema, every problem at once with line and column
 * (what job files do, for the cluster-wide files: the dependency file, remediation rules). Bad YAML,
 * duplicate keys, an empty file, schema issues and cross-field checks all come back as located
 * issues, sorted by position.
 */
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import type { ValidationIssue } from '../errors/dabba-error.ts';
import {
  describeValue,
  findDuplicateKeys,
  firstLine,
  formatPath,
  locate,
  sortByPosition,
} from './job-file.ts';

/** An issue with the path it is at (to be located in the YAML); `atKey`: point at the key. */
export interface RawIssue {
  issue: ValidationIssue;
  path: readonly PropertyKey[];
  atKey: boolean;
}

export type YamlFileResult<T> =
  { ok: true; value: T; raw: unknown } | { ok: false; issues: ValidationIssue[] };

/** A zod issue in the words of the job file's messages. */
export function convertIssue(iss: z.core.$ZodIssue): RawIssue[] {
  const input = (iss as { input?: unknown }).input;
  const make = (message: string, path: readonly PropertyKey[] = iss.path, atKey = false): RawIssue => ({
    issue: {
      path: formatPath(path),
      message,
      ...(input === undefined || atKey ? {} : { found: describeValue(input) }),
    },
    path,
    atKey,
  });
  switch (iss.code) {
    case 'unrecognized_keys':
      return iss.keys.map((k) => make(`unknown field "${k}"`, [...iss.path, k], true));
    case 'invalid_type':
      return [make(input === undefined ? 'is required' : `must be ${iss.expected}`)];
    case 'invalid_key':
      return [make(iss.issues[0]?.message ?? 'is not a valid name', iss.path, true)];
    case 'invalid_value':
      return [make(`must be one of: ${iss.values.map(String).join(', ')}`)];
    case 'too_big':
      return [make(`must be at most ${String(iss.maximum)}`)];
    case 'too_small':
      return [make(`must be at least ${String(iss.minimum)}`)];
    default:
      return [make(iss.message)];
  }
}

/** Checks a value (from YAML or a JSON body) against `schema`, then `cross` on the result. */
export function checkValue<T>(
  schema: z.ZodType<T>,
  value: unknown,
  cross: (v: T) => RawIssue[] = () => [],
): { value?: T; raw: RawIssue[] } {
  const r = schema.safeParse(value, { reportInput: true });
  if (!r.success) return { raw: r.error.issues.flatMap(convertIssue) };
  const raw = cross(r.data);
  return raw.length === 0 ? { value: r.data, raw } : { raw };
}

/**
 * Parses `text` as one YAML document and checks it; `file` labels the issues, `what` names the file
 * in messages ("the dependency file"), `needs` says what an empty one lacks ("services:").
 */
export function parseYamlFile<T>(
  text: string,
  file: string,
  o: { schema: z.ZodType<T>; what: string; needs: string; cross?: (v: T) => RawIssue[] },
): YamlFileResult<T> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, strict: true });
  const pos = (offset: number): { line: number; column: number } => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const issues: ValidationIssue[] = doc.errors.map((e) => ({
    path: '',
    message:
      e.code === 'MULTIPLE_DOCS'
        ? `${o.what} holds one YAML document, but a second one starts here`
        : `invalid YAML: ${firstLine(e.message)}`,
    file,
    ...pos(e.pos[0]),
  }));
  if (issues.length > 0) return { ok: false, issues: sortByPosition(issues) };
  findDuplicateKeys(doc.contents, [], (path, key, first) => {
    const f = pos(first.range?.[0] ?? 0);
    issues.push({
      path: formatPath(path),
      message: `duplicate key "${String(path.at(-1))}" (first defined at line ${f.line}, column ${f.column})`,
      file,
      ...pos(key.range?.[0] ?? 0),
    });
  });
  if (doc.contents === null) {
    issues.push({ path: '', message: `${o.what} is empty (it needs ${o.needs})`, file, line: 1, column: 1 });
    return { ok: false, issues };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    const message = `invalid YAML: ${e instanceof Error ? e.message : String(e)}`;
    return { ok: false, issues: [{ path: '', message, file, line: 1, column: 1 }] };
  }
  const checked = checkValue(o.schema, value, o.cross);
  for (const r of checked.raw) issues.push({ ...r.issue, file, ...locate(doc, r.path, r.atKey, pos) });
  if (checked.value !== undefined && issues.length === 0)
    return { ok: true, value: checked.value, raw: value };
  return { ok: false, issues: sortByPosition(issues) };
}
