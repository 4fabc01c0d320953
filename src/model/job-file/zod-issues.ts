/** The schema's (zod's) issues as ValidationIssues: what was expected and found, where, and how to fix it. */
import type { z } from 'zod';
import type { ValidationIssue } from '../../errors/dabba-error.ts';
import type { JobIssueParams } from '../job-schema.ts';
import { knownFields, suggestField } from './fields.ts';

/** A path into the job file's user form. */
export type Path = readonly PropertyKey[];

/** An issue before it is placed in the file: its raw path and whether it is about a map key. */
export interface RawIssue {
  issue: ValidationIssue;
  path: Path;
  atKey: boolean;
}

export function convertIssues(zodIssues: readonly z.core.$ZodIssue[]): RawIssue[] {
  return zodIssues.flatMap(convertIssue);
}

export function convertIssue(iss: z.core.$ZodIssue): RawIssue[] {
  const path = iss.path;
  const input = (iss as { input?: unknown }).input;
  const make = (fields: Omit<ValidationIssue, 'path'>, p: Path = path, atKey = false): RawIssue => ({
    issue: { path: formatPath(p), ...fields },
    path: p,
    atKey,
  });
  switch (iss.code) {
    case 'unrecognized_keys': {
      const known = knownFields(path);
      return iss.keys.map((key) => {
        const suggestion = known ? suggestField(key, known) : undefined;
        return make(
          {
            message: `unknown field "${key}"${suggestion === undefined ? '' : `; did you mean "${suggestion}"?`}`,
            ...(known ? { expected: `one of: ${known.join(', ')}` } : {}),
          },
          [...path, key],
          true,
        );
      });
    }
    case 'invalid_type': {
      const expected = typeNoun(iss.expected);
      if (input === undefined) {
        return [make({ message: 'is required', ...(expected === undefined ? {} : { expected }) })];
      }
      if (path.length === 0) {
        return [
          make({
            message: 'a job file must be a mapping of fields (name, replicas, task, update, placement)',
            expected: 'a mapping',
            found: describeValue(input),
          }),
        ];
      }
      return [
        make({
          message: input === null ? 'has no value' : `must be ${expected ?? iss.expected}`,
          expected: expected ?? iss.expected,
          found: describeValue(input),
        }),
      ];
    }
    case 'custom': {
      const params = (iss.params ?? {}) as JobIssueParams;
      return [
        make(
          {
            message: iss.message,
            ...(params.expected === undefined ? {} : { expected: params.expected }),
            ...(input === undefined || params.atKey ? {} : { found: describeValue(input) }),
          },
          path,
          params.atKey === true,
        ),
      ];
    }
    default:
      return [
        make({ message: iss.message, ...(input === undefined ? {} : { found: describeValue(input) }) }),
      ];
  }
}

export function typeNoun(t: string): string | undefined {
  switch (t) {
    case 'object':
    case 'record':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'int':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    case 'nonoptional':
      return undefined;
    default:
      return t;
  }
}

/** How a found value is shown: strings quoted (and shortened), lists and mappings by kind. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (typeof v === 'string') {
    const s = v.length > 60 ? `${v.slice(0, 57)}...` : v;
    return JSON.stringify(s);
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

/** `task.ports[1].name`; keys that are not identifiers are quoted: `task.env["A.B"]`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const s = String(seg);
      if (/^[A-Za-z_$][A-Za-z0-9_-]*$/.test(s)) out += out ? `.${s}` : s;
      else out += `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}
