/**
 * A unified diff of two texts by lines (longest common subsequence), for `dabba config diff`.
 * Texts beyond MAX_CELLS line pairs are compared as wholes: every old line out, every new line in.
 */
const MAX_CELLS = 25_000_000;

type Op = { kind: ' ' | '-' | '+'; line: string };

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

function lcsOps(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS) {
    return [
      ...a.map((line) => ({ kind: '-' as const, line })),
      ...b.map((line) => ({ kind: '+' as const, line })),
    ];
  }
  // len[i][j]: LCS length of a[i..] and b[j..], one flat array.
  const len = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      len[i * (m + 1) + j] =
        a[i] === b[j]
          ? (len[(i + 1) * (m + 1) + j + 1] ?? 0) + 1
          : Math.max(len[(i + 1) * (m + 1) + j] ?? 0, len[i * (m + 1) + j + 1] ?? 0);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ kind: ' ', line: a[i] ?? '' });
      i++;
      j++;
    } else if ((len[(i + 1) * (m + 1) + j] ?? 0) >= (len[i * (m + 1) + j + 1] ?? 0)) {
      ops.push({ kind: '-', line: a[i++] ?? '' });
    } else {
      ops.push({ kind: '+', line: b[j++] ?? '' });
    }
  }
  while (i < n) ops.push({ kind: '-', line: a[i++] ?? '' });
  while (j < m) ops.push({ kind: '+', line: b[j++] ?? '' });
  return ops;
}

/** `---`/`+++` headers and hunks with `context` lines around each change; '' when the texts are equal. */
export function unifiedDiff(
  oldText: string,
  newText: string,
  oldName: string,
  newName: string,
  context = 3,
): string {
  const ops = lcsOps(splitLines(oldText), splitLines(newText));
  if (ops.every((o) => o.kind === ' ')) return '';
  const out = [`--- ${oldName}`, `+++ ${newName}`];
  let k = 0;
  let oldLine = 1;
  let newLine = 1;
  while (k < ops.length) {
    // Skip to the next change, keeping `context` lines before it.
    let next = k;
    while (next < ops.length && ops[next]?.kind === ' ') next++;
    if (next === ops.length) break;
    const start = Math.max(k, next - context);
    oldLine += start - k;
    newLine += start - k;
    // Extend the hunk while changes are within 2*context lines of each other.
    let end = next;
    let quiet = 0;
    while (end < ops.length && quiet <= 2 * context) {
      quiet = ops[end]?.kind === ' ' ? quiet + 1 : 0;
      end++;
    }
    end = Math.min(ops.length, end - Math.max(0, quiet - context));
    const hunk = ops.slice(start, end);
    const oldCount = hunk.filter((o) => o.kind !== '+').length;
    const newCount = hunk.filter((o) => o.kind !== '-').length;
    out.push(`@@ -${oldLine},${oldCount} +${newLine},${newCount} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.line}`);
    oldLine += oldCount;
    newLine += newCount;
    k = end;
  }
  return out.join('\n') + '\n';
}
