/**
 * Runs the host tools (ip, mount, runc ...) from a small long-lived /bin/sh instead of the agent.
 *
 * Forking the agent (a Node process of 100+ MB) costs 2-8 ms of page-table copying per tool, during
 * which its event loop is blocked; a start runs several tools, so a burst of starts queues up behind
 * the forks. The helper shell is about 1 MB: it forks each tool in the background, reports its pid
 * and exit code on its stdout ("ID p PID", "ID x CODE OE": O and E say whether stdout and stderr
 * are non-empty), and leaves its output in two files that are read (if non-empty) and deleted
 * here. Tools run concurrently, as with spawn().
 *
 * The helper holds no state that matters: if it dies, the calls in flight end with an error (their
 * tools may still finish) and the next call starts a new one. It exits when its stdin closes (with
 * the agent), like any child.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ToolResult } from './tool.ts';

export interface ToolOptions {
  /** Fed on stdin (as lines: a final newline is added if missing). */
  input?: string;
  timeoutMs?: number;
  cwd?: string;
  /**
   * A file (a named pipe) the tool gets open for reading and writing as fd 4, opened by the
   * helper's shell for the tool alone (no shell of its own in between).
   */
  holdOpen?: string;
}

/** Runs `file args`; never rejects (a missing tool is code 127). */
export type ToolRunner = (file: string, args: string[], options?: ToolOptions) => Promise<ToolResult>;

interface Pending {
  resolve: (r: ToolResult, sync: string | undefined) => void;
  pid?: number;
  timer?: NodeJS.Timeout;
  note: string;
  /** The line the tool wrote on its sync pipe (runWithSync). */
  sync?: string;
  /** runWithSync: the tool's exit code comes back in a file of its own (ID.c). */
  withSync?: boolean;
  /** runWithSync's onLine. */
  onLine?: (line: string) => void;
}

export interface SyncResult {
  /** The first line the tool wrote on fd 3, undefined if it closed fd 3 without writing one. */
  line: string | undefined;
  result: ToolResult;
}

/** A shell word that stands for `s` exactly. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class ForkHelper {
  private readonly dir: string;
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private next = 1;
  private buf = '';

  /** `dir` holds the tools' output files while they run (created if missing). */
  constructor(dir: string) {
    this.dir = dir;
  }

  /** The helper shell's pid while it runs (for tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const child = spawn('/bin/sh', ['-s'], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child = child;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => this.onOutput(d));
    child.stdin?.on('error', () => undefined);
    const gone = (why: string): void => {
      if (this.child !== child) return;
      this.child = undefined;
      this.buf = '';
      for (const [id, p] of this.pending) this.finish(id, p, 1, `tool helper ${why}`);
    };
    child.on('error', (e) => gone(`failed: ${e.message}`));
    child.on('exit', (code, signal) => gone(`exited (${signal ?? code})`));
    this.setRef(child, false);
    return child;
  }

  /** Keeps the process alive only while tools run (an idle helper must not hold the agent up). */
  private setRef(child: ChildProcess, on: boolean): void {
    for (const s of [child.stdin, child.stdout]) {
      const h = s as unknown as { ref?: () => void; unref?: () => void } | null;
      if (on) h?.ref?.();
      else h?.unref?.();
    }
    if (on) child.ref();
    else child.unref();
  }

  private onOutput(d: string): void {
    this.buf += d;
    let nl;
    while ((nl = this.buf.indexOf('\n')) !== -1) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const sync = /^(\d+) s ([01])(?: (.*))?$/.exec(line);
      if (sync) {
        const p = this.pending.get(Number(sync[1]));
        if (p && sync[2] === '1') {
          p.sync = sync[3] ?? '';
          p.onLine?.(p.sync);
        }
        continue;
      }
      const m = /^(\d+) ([px]) (\d+)(?: ([01])([01]))?$/.exec(line);
      if (!m) continue;
      const id = Number(m[1]);
      const p = this.pending.get(id);
      if (!p) continue;
      if (m[2] === 'p') p.pid = Number(m[3]);
      else void this.collect(id, p, Number(m[3]), m[4] === '1', m[5] === '1');
    }
  }

  /** Reads (if the shell saw them non-empty) and deletes the tool's output files. */
  private async collect(
    id: number,
    p: Pending,
    code: number,
    hasOut: boolean,
    hasErr: boolean,
  ): Promise<void> {
    const out = join(this.dir, `${id}.o`);
    const err = join(this.dir, `${id}.e`);
    const [stdout, stderr] = await Promise.all([
      hasOut ? readFile(out, 'utf8').catch(() => '') : '',
      hasErr ? readFile(err, 'utf8').catch(() => '') : '',
    ]);
    await Promise.all([
      rm(out, { force: true }),
      rm(err, { force: true }),
      p.withSync ? rm(join(this.dir, `${id}.c`), { force: true }) : undefined,
    ]);
    this.finish(id, p, code, stderr, stdout);
  }

  private finish(id: number, p: Pending, code: number, stderr: string, stdout = ''): void {
    if (!this.pending.delete(id)) return;
    if (p.timer) clearTimeout(p.timer);
    if (this.pending.size === 0 && this.child) this.setRef(this.child, false);
    p.resolve({ code, stdout, stderr: stderr + p.note }, p.sync);
  }

  run: ToolRunner = async (file, args, options = {}) =>
    (await this.submit(file, args, options, false)).result;

  /**
   * Runs `file args` with fd 3 a pipe back to this process (conmon's _OCI_SYNCPIPE): the first line
   * the tool writes on it is relayed by the helper; EOF without a line means none. `env` is added
   * to the tool's environment. The call ends when that line (or EOF) has come and the process
   * started has exited, not when children it leaves behind do (conmon's first process exits at
   * once; its daemon child writes the line and stays as the container's parent). `onLine` gets
   * the line as soon as it comes, before the call ends (the helper's shell has yet to see the
   * tool exit, and its output files are read and deleted then).
   */
  runWithSync(
    file: string,
    args: string[],
    options: ToolOptions & { env?: Record<string, string>; onLine?: (line: string) => void } = {},
  ): Promise<SyncResult> {
    return this.submit(file, args, options, true);
  }

  private submit(
    file: string,
    args: string[],
    options: ToolOptions & { env?: Record<string, string>; onLine?: (line: string) => void },
    withSync: boolean,
  ): Promise<SyncResult> {
    return new Promise<SyncResult>((resolveSubmit) => {
      const resolve = (result: ToolResult, line: string | undefined): void => resolveSubmit({ line, result });
      const child = this.ensure();
      const id = this.next++;
      const p: Pending = {
        resolve,
        note: '',
        withSync,
        ...(options.onLine ? { onLine: options.onLine } : {}),
      };
      this.pending.set(id, p);
      if (this.pending.size === 1) this.setRef(child, true);
      const out = shellQuote(join(this.dir, `${id}.o`));
      const err = shellQuote(join(this.dir, `${id}.e`));
      const env = Object.entries(options.env ?? {})
        .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
        .map(([k, v]) => `${k}=${shellQuote(v)} `)
        .join('');
      const held = options.holdOpen === undefined ? '' : ` 4<>${shellQuote(options.holdOpen)}`;
      const cmd = env + [file, ...args].map(shellQuote).join(' ') + held;
      // A directory that cannot be entered ends the job as a tool that is not there would (127),
      // with the shell's message as its stderr.
      const cd =
        options.cwd !== undefined
          ? `cd ${shellQuote(options.cwd)} 2>${err} || { echo "${id} x 127 01"; exit; }; `
          : '';
      let input = '';
      let redirect = '</dev/null';
      if (options.input !== undefined) {
        const end = `__DABBA_INPUT_${id}_${randomBytes(6).toString('hex')}__`;
        redirect = `<<'${end}'`;
        input =
          options.input + (options.input.endsWith('\n') || options.input === '' ? '' : '\n') + end + '\n';
      }
      // With a sync pipe, the tool's fd 3 is a pipe into a reader (builtins only) that relays its
      // first line ("ID s 1 LINE", or "ID s 0" on EOF); the job then waits for the reader. A
      // pipeline's code is the reader's, so a tool that fails leaves its own in ID.c; it is written
      // before the reader can see EOF (the group holds the pipe open until then), and a tool that
      // wrote its line has no code worth having (conmon's first process exits 0 at once).
      const code = shellQuote(join(this.dir, `${id}.c`));
      const tool = withSync
        ? `{ ${cmd} 3>&1 ${redirect} >${out} 2>${err} || echo $? >${code}; } | ` +
          `{ if IFS= read -r l; then printf '%s\\n' "${id} s 1 $l"; else printf '%s\\n' "${id} s 0"; fi; }`
        : `${cmd} ${redirect} >${out} 2>${err}`;
      const toolCode = withSync ? ` [ -s ${code} ] && read c <${code};` : '';
      // The job: a background subshell that starts the tool, says its pid, waits, says its code.
      const job =
        `( ${cd}${tool} & p=$!; echo "${id} p $p"; wait $p; c=$?;${toolCode} o=0; e=0; ` +
        `[ -s ${out} ] && o=1; [ -s ${err} ] && e=1; echo "${id} x $c $o$e" ) &\n` +
        input;
      if (options.timeoutMs !== undefined) {
        const ms = options.timeoutMs;
        p.timer = setTimeout(() => {
          p.note = `\n(timed out after ${ms} ms)`;
          if (p.pid) {
            try {
              process.kill(p.pid, 'SIGKILL');
            } catch {
              // already gone
            }
          } else this.finish(id, p, 128, '');
        }, ms);
      }
      child.stdin?.write(job);
    });
  }

  /**
   * Ends the helper and deletes its directory (tools still running finish on their own; their
   * calls end with an error). A later call starts a new helper.
   */
  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    this.buf = '';
    for (const [id, p] of this.pending) this.finish(id, p, 1, 'tool helper closed');
    if (child) {
      child.stdin?.end();
      this.setRef(child, false);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
