/** How a validation issue reads in a terminal (the CLI prints the server's and its own this way). */
import type { ValidationIssue } from '../errors/dabba-error.ts';

/** Compiler-style lines: `file:line:col: path: message (expected X, found Y)`. */
export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map(formatIssue).join('\n');
}

export function formatIssue(i: ValidationIssue): string {
  let loc = '';
  if (i.file !== undefined) loc = i.file;
  if (i.line !== undefined) loc += `${loc ? ':' : ''}${i.line}:${i.column ?? 1}`;
  const extra: string[] = [];
  if (i.expected !== undefined) extra.push(`expected ${i.expected}`);
  if (i.found !== undefined) extra.push(`found ${i.found}`);
  return `${loc ? `${loc}: ` : ''}${i.path ? `${i.path}: ` : ''}${i.message}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}
