/**
 * Validation hooks by type: a JSON config must parse as JSON, a YAML one as YAML, and either must
 * satisfy the JSON Schemas (`_schema.json`) of its enclosing folders. Every problem carries the
 * config's path and a line and column, and is found before anything is stored.
 */
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { Document } from 'yaml';
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../../errors/index.ts';
import { jsonSyntaxError } from './json-syntax.ts';
import { CONFIG_SCHEMA_NAME, type ConfigFormat } from '../../model/index.ts';

type Position = { line: number; column: number };

function positionAt(text: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: Math.max(1, offset - lineStart + 1) };
}

/** A JSON syntax error located by line and column (JSON.parse does not always say where). */
function jsonSyntaxIssue(text: string, e: unknown, file: string): ValidationIssue {
  const found = jsonSyntaxError(text);
  if (found !== undefined) {
    return { path: '', message: `invalid JSON: ${found.message}`, file, ...positionAt(text, found.offset) };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { path: '', message: `invalid JSON: ${message.split('\n')[0] ?? ''}`, file, line: 1, column: 1 };
}

interface Parsed {
  value: unknown;
  /** Where each value lies, for schema issues. */
  doc: Document;
  counter: LineCounter;
}

function parseTree(text: string): { doc: Document; counter: LineCounter } {
  const counter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: counter,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
  });
  return { doc, counter };
}

/** Parses a JSON or YAML config; a syntax error is a ValidationError located by line and column. */
export function parseConfig(text: string, format: 'json' | 'yaml', file: string): Parsed {
  if (format === 'json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new ValidationError(`${file} is not valid JSON`, [jsonSyntaxIssue(text, e, file)]);
    }
    return { value, ...parseTree(text) };
  }
  const { doc, counter } = parseTree(text);
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    const issues = problems.map((p) => {
      const lp = counter.linePos(p.pos[0]);
      return {
        path: '',
        message: `invalid YAML: ${p.message.split('\n')[0] ?? ''}`,
        file,
        line: lp.line,
        column: lp.col,
      };
    });
    throw new ValidationError(`${file} is not valid YAML`, issues);
  }
  return { value: doc.toJS({ maxAliasCount: 1000 }), doc, counter };
}

function pathText(path: readonly PropertyKey[]): string {
  return path
    .map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))
    .join('')
    .replace(/^\./, '');
}

function locate(p: Parsed, path: readonly PropertyKey[]): Position {
  for (let n = path.length; n >= 0; n--) {
    const node: unknown = n === 0 ? p.doc.contents : p.doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const lp = p.counter.linePos(node.range[0]);
      return { line: lp.line, column: lp.col };
    }
  }
  return { line: 1, column: 1 };
}

/**
 * zod's converter ignores a `required` name that `properties` does not list; listing it there (with
 * no constraint of its own, `{}`) makes `required` hold as JSON Schema says. Applied at every depth.
 */
function listRequired(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(listRequired);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = listRequired(v);
  const required = out['required'];
  if (Array.isArray(required)) {
    const props = (
      typeof out['properties'] === 'object' && out['properties'] !== null
        ? { ...(out['properties'] as Record<string, unknown>) }
        : {}
    ) as Record<string, unknown>;
    for (const name of required) if (typeof name === 'string' && !(name in props)) props[name] = {};
    out['properties'] = props;
  }
  return out;
}

/** A schema config must itself be a JSON Schema that can be compiled. */
export function compileSchema(text: string, file: string): z.ZodType {
  const parsed = parseConfig(text, 'json', file);
  if (typeof parsed.value !== 'object' && typeof parsed.value !== 'boolean') {
    throw new ValidationError(`${file} is not a JSON Schema`, [
      { path: '', message: 'a JSON Schema is an object (or true/false)', file, line: 1, column: 1 },
    ]);
  }
  try {
    return z.fromJSONSchema(listRequired(parsed.value) as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new ValidationError(`${file} is not a JSON Schema Dabba can use`, [
      { path: '', message: `unusable JSON Schema: ${message}`, file, line: 1, column: 1 },
    ]);
  }
}

export interface SchemaRef {
  /** The schema config's path (shown in the issues). */
  path: string;
  text: string;
}

/**
 * Checks a config's content by its format, then against each schema in `schemas`. Throws a
 * ValidationError listing every problem (file = the config's path, with line and column).
 */
export function checkConfigContent(
  content: Buffer,
  format: ConfigFormat,
  file: string,
  schemas: readonly SchemaRef[],
): void {
  if (format === 'text') return;
  const text = content.toString('utf8');
  if (file.endsWith(`/${CONFIG_SCHEMA_NAME}`) || file === CONFIG_SCHEMA_NAME) {
    compileSchema(text, file);
  }
  const parsed = parseConfig(text, format, file);
  const issues: ValidationIssue[] = [];
  for (const s of schemas) {
    const schema = compileSchema(s.text, s.path);
    const r = schema.safeParse(parsed.value);
    if (r.success) continue;
    for (const i of r.error.issues) {
      issues.push({
        path: pathText(i.path),
        message: `${i.message} (schema ${s.path})`,
        file,
        ...locate(parsed, i.path),
      });
    }
  }
  if (issues.length > 0) {
    issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new ValidationError(`${file} does not satisfy its schema`, issues);
  }
}
