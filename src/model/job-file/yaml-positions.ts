/** Where things are in a job file's YAML: issues placed at line and column, duplicate keys, file order. */
import { isAlias, isMap, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';
import type { ValidationIssue } from '../../errors/dabba-error.ts';
import type { Path } from './zod-issues.ts';

export type Pos = (offset: number) => { line: number; column: number };

export function keyString(key: unknown): string | undefined {
  return isScalar(key) ? String(key.value) : undefined;
}

export function startOf(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range?.[0];
}

/**
 * Where a path points in the document: the value for a scalar, the key for a collection or a
 * problem with the key itself, and the closest parent key for a field that is missing.
 */
export function locate(
  doc: Document,
  path: Path,
  atKey: boolean,
  pos: Pos,
): { line: number; column: number } {
  let node: unknown = doc.contents;
  let key: unknown = undefined; // key node of the pair holding `node`
  const here = (): { line: number; column: number } => pos(startOf(key) ?? startOf(node) ?? 0);
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => keyString(p.key) === String(seg));
      if (!pair) return here(); // missing field: its parent
      if (i === path.length - 1 && atKey) return pos(startOf(pair.key) ?? startOf(node) ?? 0);
      key = pair.key;
      node = pair.value;
      if (node === null) return here();
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (item === undefined) return here();
      key = undefined;
      node = item;
    } else {
      return here(); // the path goes deeper than the document (a scalar where a mapping was expected)
    }
  }
  if (isAlias(node)) return pos(startOf(node) ?? 0);
  if ((isMap(node) || isSeq(node)) && key !== undefined) return here();
  return pos(startOf(node) ?? startOf(key) ?? 0);
}

export function findDuplicateKeys(
  node: unknown,
  path: PropertyKey[],
  report: (path: PropertyKey[], key: YamlNode, first: YamlNode) => void,
): void {
  if (isMap(node)) {
    const seen = new Map<string, YamlNode>();
    for (const pair of node.items) {
      const k = keyString(pair.key);
      if (k !== undefined && k !== '<<' && isScalar(pair.key)) {
        const first = seen.get(k);
        if (first !== undefined) report([...path, k], pair.key, first);
        else seen.set(k, pair.key);
      }
      findDuplicateKeys(pair.value, [...path, k ?? '?'], report);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => findDuplicateKeys(item, [...path, i], report));
  }
}

export function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

export function sortByPosition(issues: ValidationIssue[]): ValidationIssue[] {
  return issues
    .map((issue, index) => ({ issue, index }))
    .sort(
      (a, b) =>
        (a.issue.line ?? 0) - (b.issue.line ?? 0) ||
        (a.issue.column ?? 0) - (b.issue.column ?? 0) ||
        a.index - b.index,
    )
    .map((x) => x.issue);
}
