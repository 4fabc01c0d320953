/**
 * The process runtime's log writer: the one writer of its tasks' log files, in a small process of
 * its own that outlives the agent (as conmon does for a container). A task's stdout and stderr are
 * named pipes (tasks/ID/stdout.pipe, stderr.pipe); the writer reads them and appends what comes
 * to stdout.log and stderr.log. A write that fails (the disk full or read-only) drops that output
 * and counts it (log-drops.ts): the task never sees an error for its own output, and is never
 * stopped for it. The next write that succeeds closes the window of drops.
 *
 * The task holds its pipe open for reading and writing, so it never gets SIGPIPE: if the writer is
 * gone (killed), its writes wait in the pipe (then block once the pipe is full) until a new writer
 * opens the pipes again; nothing is lost meanwhile.
 *
 * The agent's runtime talks to it over a unix socket in the abstract namespace (no file, so it works
 * on a full or read-only disk), in JSON lines: {id, op: 'open'|'watch', task} and {id, ok|error}.
 * `open` starts shipping a task (answered once its pipes are open); `watch` is answered once the
 * task's output has all been written (its pipes ended: the task and whatever inherited its output
 * have exited). The writer exits by itself a second after it last shipped anything.
 */
import { closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { LogStream } from '../runtime.ts';
import { CRI_PIPE, CRI_LOG } from './cri-records.ts';
import { CriSink, readLimit, type Sink } from './cri-sink.ts';
import { readDrops, writeDrops, type DropsRecord } from './log-drops.ts';

export const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const STREAMS: readonly LogStream[] = ['stdout', 'stderr'];
/** How often the drop record is rewritten while writes keep failing. */
const DROPS_SAVE_MS = 1000;

export function pipePath(taskDir: string, stream: LogStream): string {
  return join(taskDir, `${stream}.pipe`);
}

/**
 * Reads what a just-opened pipe holds now. Linux reports no hangup to a reader that opened a pipe
 * with no writer left (it waits for a writer to come), so a pipe whose task has ended would never
 * end: read until it would block (a writer is there) or says end of file (none is).
 */
function readNow(fd: number): { chunks: Buffer[]; ended: boolean } {
  const chunks: Buffer[] = [];
  for (;;) {
    const buf = Buffer.allocUnsafe(64 * 1024);
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return { chunks, ended: false };
      return { chunks, ended: true };
    }
    if (n === 0) return { chunks, ended: true };
    chunks.push(buf.subarray(0, n));
  }
}

function newlines(b: Uint8Array): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}

interface Shipped {
  dir: string;
  /** The stdout pipe's inode: a task started again under the same id has new pipes. */
  ino: number;
  open: number;
  drops: DropsRecord;
  dirty: boolean;
  saving: boolean;
  lastSave: number;
  done: Promise<void>;
  finish: () => void;
}

export class LogWriter {
  readonly #tasksDir: string;
  /** The task's latest shipping, by id. */
  readonly #tasks = new Map<string, Shipped>();
  /** Every shipping not ended (a task's earlier run may still be draining). */
  readonly #live = new Set<Shipped>();
  /** Resolves `watch`es of tasks that are not (or no longer) shipped. */
  readonly #idle = Promise.resolve();

  constructor(tasksDir: string) {
    this.#tasksDir = tasksDir;
  }

  get shipping(): number {
    return this.#live.size;
  }

  /** Starts shipping a task's output (no-op if shipped already). */
  async open(taskId: string): Promise<void> {
    if (!TASK_ID.test(taskId)) throw new Error(`invalid task id "${taskId}"`);
    const dir = join(this.#tasksDir, taskId);
    const ino = statSync(pipePath(dir, 'stdout')).ino;
    if (this.#tasks.get(taskId)?.ino === ino) return;
    const drops = await readDrops(dir);
    if (this.#tasks.get(taskId)?.ino === ino) return;
    const t = this.#track(taskId, dir, ino, drops);
    // Both pipes before either is read (O_NONBLOCK: opening a pipe's read end never waits).
    const fds: number[] = [];
    try {
      for (const s of STREAMS)
        fds.push(openSync(pipePath(dir, s), constants.O_RDONLY | constants.O_NONBLOCK));
    } catch (e) {
      for (const fd of fds) closeSync(fd);
      this.#untrack(taskId, t);
      throw e;
    }
    STREAMS.forEach((s, i) => this.#ship(taskId, t, fds[i]!, this.#streamSink(t, s)));
  }

  /** Resolves once the task's output has all been written (at once if it is not shipped). */
  watch(taskId: string): Promise<void> {
    return this.#tasks.get(taskId)?.done ?? this.#idle;
  }

  /**
   * Starts shipping a container's log pipe (ctr.pipe, conmon's CRI records) to ctr.log, whole
   * records only; with `maxBytes`, the log starts over once it would pass it (as conmon's
   * --log-size-max does). No-op if shipped already.
   */
  async openCri(taskId: string, maxBytes?: number): Promise<void> {
    if (!TASK_ID.test(taskId)) throw new Error(`invalid task id "${taskId}"`);
    const dir = join(this.#tasksDir, taskId);
    const pipe = join(dir, CRI_PIPE);
    const ino = statSync(pipe).ino;
    if (this.#tasks.get(taskId)?.ino === ino) return;
    const drops = await readDrops(dir);
    const limit = maxBytes ?? (await readLimit(dir));
    if (this.#tasks.get(taskId)?.ino === ino) return;
    const t = this.#track(taskId, dir, ino, drops);
    let fd: number;
    try {
      fd = openSync(pipe, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      this.#untrack(taskId, t);
      throw e;
    }
    const sink = new CriSink(join(dir, CRI_LOG), limit, {
      wrote: () => STREAMS.forEach((s) => this.#wrote(t, s)),
      dropped: (out, reason) => {
        for (const s of STREAMS)
          if (out[s].bytes > 0) this.#dropped(t, s, out[s].bytes, out[s].lines, reason);
      },
    });
    this.#ship(taskId, t, fd, sink);
  }

  #track(taskId: string, dir: string, ino: number, drops: DropsRecord): Shipped {
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    const t: Shipped = { dir, ino, open: 0, drops, dirty: false, saving: false, lastSave: 0, done, finish };
    this.#tasks.set(taskId, t);
    this.#live.add(t);
    return t;
  }

  #untrack(taskId: string, t: Shipped): void {
    if (this.#tasks.get(taskId) === t) this.#tasks.delete(taskId);
    this.#live.delete(t);
    t.finish();
  }

  /** A task's stream written to its own log file (process tasks). */
  #streamSink(t: Shipped, stream: LogStream): Sink {
    const logPath = join(t.dir, `${stream}.log`);
    let log: FileHandle | undefined;
    return {
      write: async (chunk: Buffer): Promise<void> => {
        let off = 0;
        try {
          log ??= await open(logPath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
          while (off < chunk.length) {
            const { bytesWritten } = await log.write(chunk, off, chunk.length - off);
            if (bytesWritten === 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
            off += bytesWritten;
          }
          this.#wrote(t, stream);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
          const rest = chunk.subarray(off);
          this.#dropped(t, stream, rest.length, newlines(rest), code);
          if (code !== 'ENOSPC' && code !== 'EDQUOT') {
            // A read-only or broken file: open it again next time (it may be a new mount by then).
            await log?.close().catch(() => undefined);
            log = undefined;
          }
        }
      },
      close: async () => {
        await log?.close();
      },
    };
  }

  /** Ships one pipe into `sink` (the socket owns its fd and closes it). */
  #ship(taskId: string, t: Shipped, fd: number, sink: Sink): void {
    t.open++;
    const now = readNow(fd);
    let writing = Promise.resolve();
    for (const chunk of now.chunks) writing = writing.then(() => sink.write(chunk));
    const ended = (): void => {
      void writing
        .then(() => sink.close())
        .catch(() => undefined)
        .finally(() => {
          if (--t.open === 0) void this.#end(taskId, t);
        });
    };
    if (now.ended) {
      closeSync(fd);
      ended();
      return;
    }
    const sock = new Socket({ fd, readable: true, writable: false });
    sock.on('data', (chunk: Buffer) => {
      // In order, one write at a time; reading pauses while a write is pending.
      sock.pause();
      writing = writing.then(() => sink.write(chunk)).finally(() => sock.resume());
    });
    sock.on('error', () => undefined); // ends the stream like EOF (a 'close' follows)
    sock.once('close', ended);
  }

  #wrote(t: Shipped, stream: LogStream): void {
    const w = t.drops.windows.findLast((d) => d.stream === stream && d.to === undefined);
    if (w === undefined) return;
    w.to = Date.now();
    t.dirty = true;
    void this.#save(t, true);
  }

  #dropped(t: Shipped, stream: LogStream, bytes: number, lines: number, reason: string): void {
    const total = t.drops.total[stream];
    total.bytes += bytes;
    total.lines += lines;
    let w = t.drops.windows.findLast((d) => d.stream === stream && d.to === undefined);
    const opened = w === undefined;
    if (w === undefined) {
      w = { stream, from: Date.now(), bytes: 0, lines: 0, reason };
      t.drops.windows.push(w);
    }
    w.bytes += bytes;
    w.lines += lines;
    t.dirty = true;
    void this.#save(t, opened);
  }

  async #save(t: Shipped, now: boolean): Promise<void> {
    if (t.saving || !t.dirty || (!now && Date.now() - t.lastSave < DROPS_SAVE_MS)) return;
    t.saving = true;
    try {
      t.dirty = false;
      t.lastSave = Date.now();
      if (!(await writeDrops(t.dir, t.drops))) t.dirty = true;
    } finally {
      t.saving = false;
    }
  }

  async #end(taskId: string, t: Shipped): Promise<void> {
    while (t.saving) await new Promise((r) => setTimeout(r, 10));
    await this.#save(t, true);
    if (this.#tasks.get(taskId) === t) this.#tasks.delete(taskId);
    this.#live.delete(t);
    t.finish();
  }

  /** Saves drop records that could not be saved yet (run now and then). */
  async flush(): Promise<void> {
    for (const t of this.#live) await this.#save(t, false);
  }
}
