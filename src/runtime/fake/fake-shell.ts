/**
 * The little shell the fake runtime runs `sh -c SCRIPT` with, so that fake tasks behave as scripts
 * say (print, sleep, exit with a code, ignore or handle SIGTERM) without a process. It knows:
 * `echo ARGS [>&2]`, `exit N`, `sleep SECONDS`, `trap ACTION TERM`, `true`, `false`, `CMD &` (not
 * waited for), `while true; do ...; done`, `for V in WORDS; do ...; done`, `$NAME` in unquoted and
 * double-quoted words. Anything else is a command that does not exist (status 127), as for a shell
 * in an image without it.
 */
import { sleep } from '../../lib/index.ts';

export interface ShellIo {
  write(stream: 'stdout' | 'stderr', text: string): void;
  env: Record<string, string>;
  /** Aborts the script (a kill): the run ends with status 137. */
  signal: AbortSignal;
  /** Called when the script sets a TERM trap: "" ignores SIGTERM, other text is run on SIGTERM. */
  onTrap?: (action: string) => void;
}

type Word = { parts: { text: string; expand: boolean }[] };
type Node =
  | { kind: 'simple'; words: Word[]; stderr: boolean; background: boolean }
  | { kind: 'while'; body: Node[] }
  | { kind: 'for'; name: string; words: Word[]; body: Node[] };

/** Thrown by `exit` and by a kill: ends the script with this status. */
class ShellExit extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`exit ${status}`);
    this.status = status;
  }
}

/** Runs a script; resolves with its exit status (137 when the signal aborted it). */
export async function runScript(script: string, io: ShellIo): Promise<number> {
  let nodes: Node[];
  try {
    nodes = parse(tokenize(script));
  } catch (e) {
    io.write('stderr', `sh: ${(e as Error).message}`);
    return 2;
  }
  const vars = { ...io.env };
  try {
    return await runList(nodes, io, vars);
  } catch (e) {
    if (e instanceof ShellExit) return e.status;
    throw e;
  }
}

type Token = { word: Word } | { op: ';' | '&' | '>&2' };

function tokenize(script: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < script.length) {
    const c = script[i] ?? '';
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
      continue;
    }
    if (c === ';' || c === '&') {
      out.push({ op: c });
      i++;
      continue;
    }
    if (script.startsWith('>&2', i)) {
      out.push({ op: '>&2' });
      i += 3;
      continue;
    }
    const parts: Word['parts'] = [];
    while (i < script.length && !' \t\n;&'.includes(script[i] ?? '') && !script.startsWith('>&2', i)) {
      const q = script[i];
      if (q === '"' || q === "'") {
        const end = script.indexOf(q, i + 1);
        if (end < 0) throw new Error(`unterminated ${q}`);
        parts.push({ text: script.slice(i + 1, end), expand: q === '"' });
        i = end + 1;
      } else {
        let j = i;
        while (j < script.length && !' \t\n;&"\''.includes(script[j] ?? '') && !script.startsWith('>&2', j))
          j++;
        parts.push({ text: script.slice(i, j), expand: true });
        i = j;
      }
    }
    out.push({ word: { parts } });
  }
  return out;
}

const literal = (w: Word | undefined): string | undefined =>
  w === undefined ? undefined : w.parts.map((p) => p.text).join('');

function parse(tokens: Token[]): Node[] {
  let i = 0;
  const list = (until: string | undefined): Node[] => {
    const nodes: Node[] = [];
    for (;;) {
      while (i < tokens.length && 'op' in (tokens[i] ?? {}) && (tokens[i] as { op: string }).op === ';') i++;
      const t = tokens[i];
      if (t === undefined) {
        if (until !== undefined) throw new Error(`syntax error: "${until}" expected`);
        return nodes;
      }
      const first = 'word' in t ? literal(t.word) : undefined;
      if (first === until) {
        i++;
        return nodes;
      }
      if (first === 'while') {
        i++;
        const cond = literal((tokens[i] as { word?: Word }).word);
        if (cond !== 'true') throw new Error('only "while true" is known');
        i++;
        expectWord('do');
        nodes.push({ kind: 'while', body: list('done') });
        continue;
      }
      if (first === 'for') {
        i++;
        const name = literal((tokens[i] as { word?: Word }).word) ?? '';
        i++;
        expectWord('in');
        const words: Word[] = [];
        for (let t2 = tokens[i]; t2 !== undefined && 'word' in t2; t2 = tokens[++i]) words.push(t2.word);
        expectWord('do');
        nodes.push({ kind: 'for', name, words, body: list('done') });
        continue;
      }
      const words: Word[] = [];
      let stderr = false;
      let background = false;
      for (let t2 = tokens[i]; t2 !== undefined; t2 = tokens[++i]) {
        if ('word' in t2) words.push(t2.word);
        else if (t2.op === '>&2') stderr = true;
        else {
          background = t2.op === '&';
          i++;
          break;
        }
      }
      nodes.push({ kind: 'simple', words, stderr, background });
    }
  };
  const expectWord = (w: string): void => {
    while ((tokens[i] as { op?: string } | undefined)?.op === ';') i++;
    const t = tokens[i];
    if (t === undefined || !('word' in t) || literal(t.word) !== w)
      throw new Error(`syntax error: "${w}" expected`);
    i++;
  };
  return list(undefined);
}

function expand(w: Word, vars: Record<string, string>): string {
  return w.parts
    .map((p) =>
      p.expand ? p.text.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, n: string) => vars[n] ?? '') : p.text,
    )
    .join('');
}

async function runList(nodes: Node[], io: ShellIo, vars: Record<string, string>): Promise<number> {
  let status = 0;
  for (const n of nodes) {
    if (io.signal.aborted) throw new ShellExit(137);
    switch (n.kind) {
      case 'while':
        for (;;) status = await runList(n.body, io, vars);
      case 'for':
        for (const w of n.words) {
          vars[n.name] = expand(w, vars);
          status = await runList(n.body, io, vars);
        }
        break;
      case 'simple':
        if (n.background) {
          // Not waited for; it ends with the script (a kill takes the whole task).
          runSimple(n, io, vars).catch(() => undefined);
          status = 0;
        } else status = await runSimple(n, io, vars);
        break;
    }
  }
  return status;
}

async function runSimple(
  n: Extract<Node, { kind: 'simple' }>,
  io: ShellIo,
  vars: Record<string, string>,
): Promise<number> {
  const argv = n.words.map((w) => expand(w, vars));
  const [cmd, ...args] = argv;
  switch (cmd) {
    case undefined:
    case 'true':
      return 0;
    case 'false':
      return 1;
    case 'echo':
      io.write(n.stderr ? 'stderr' : 'stdout', args.join(' '));
      return 0;
    case 'exit':
      throw new ShellExit(Number(args[0] ?? 0) & 255);
    case 'sleep': {
      const seconds = Number(args[0]);
      if (!Number.isFinite(seconds) || seconds < 0) return 1;
      await sleep(seconds * 1000, io.signal);
      if (io.signal.aborted) throw new ShellExit(137);
      return 0;
    }
    case 'trap':
      if (args[1] === 'TERM') io.onTrap?.(args[0] ?? '');
      return 0;
    default:
      io.write('stderr', `sh: ${cmd}: not found`);
      return 127;
  }
}
