/**
 * A task's captured output: stdout.log and stderr.log in its directory, written by the task itself
 * (opened O_APPEND), rotated here by copy-truncate into NAME.log.1 (newest) .. NAME.log.K.
 * Reading: everything or the last N lines per stream, and following across rotations.
 */
import { copyFile, open, rename, rm, stat, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ChangeWatch } from '../../lib/index.ts';
import type { LogLine, LogStream } from '../runtime.ts';
import { LineSplitter, MAX_LINE_BYTES } from './line-splitter.ts';
import { Mutex } from './mutex.ts';

const STREAMS: readonly LogStream[] = ['stdout', 'stderr'];
const CHUNK = 64 * 1024;
/** Between reads of a followed log when its directory cannot be watched. */
const FOLLOW_POLL_MS = 100;
/**
 * Between reads of a followed log whose directory is watched (a write wakes the reader at once): the
 * longest a follower takes to see that its task has exited, and a bound should an event be missed.
 * (Polling every 100 ms cost an idle host a stat, an open and a close per stream ten times a second
 * for every task its log shipper follows.)
 */
const FOLLOW_WATCHED_MS = 500;

export interface TaskLogsOptions {
  /** Rotate a stream once its file is larger than this. */
  maxBytes: number;
  /** Rotated files kept per stream. */
  keep: number;
}

export interface FollowHooks {
  /** The task has exited: an unterminated last line will not be completed. */
  exited(): boolean;
  /** The task was removed: following ends. */
  gone(): boolean;
}

interface Cursor {
  stream: LogStream;
  generation: number;
  pos: number;
  splitter: LineSplitter;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/** Reads [start, end) of a file (end undefined: to its current end) in chunks. */
async function readRange(
  path: string,
  start: number,
  end: number | undefined,
  sink: (chunk: Buffer) => void,
): Promise<number> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return 0;
  }
  try {
    const buf = Buffer.alloc(CHUNK);
    let pos = start;
    let total = 0;
    for (;;) {
      const want = end === undefined ? CHUNK : Math.min(CHUNK, end - pos);
      if (want <= 0) break;
      const { bytesRead } = await fh.read(buf, 0, want, pos);
      if (bytesRead === 0) break;
      sink(buf.subarray(0, bytesRead));
      pos += bytesRead;
      total += bytesRead;
    }
    return total;
  } finally {
    await fh.close();
  }
}

/**
 * Where the last whole line before `end` ends. A follower's backlog stops there and its cursor
 * starts there, so a line the task is still writing is read whole once its newline comes, never as
 * two lines. (A rest longer than a line can be is cut by the splitter anyway: then `end`.)
 */
async function lineEndBefore(path: string, end: number): Promise<number> {
  if (end === 0) return 0;
  const start = Math.max(0, end - MAX_LINE_BYTES);
  const parts: Buffer[] = [];
  await readRange(path, start, end, (b) => void parts.push(Buffer.from(b)));
  const nl = Buffer.concat(parts).lastIndexOf(0x0a);
  if (nl >= 0) return start + nl + 1;
  return start === 0 ? 0 : end;
}

export class TaskLogs {
  readonly #dir: string;
  readonly #options: TaskLogsOptions;
  readonly #lock = new Mutex();
  /** Rotations done per stream by this instance: lets followers find what moved where. */
  readonly #generation: Record<LogStream, number> = { stdout: 0, stderr: 0 };

  constructor(dir: string, options: TaskLogsOptions) {
    this.#dir = dir;
    this.#options = options;
  }

  /** The file of a stream: index 0 is the live file, 1 the newest rotated one. */
  path(stream: LogStream, index = 0): string {
    return join(this.#dir, index === 0 ? `${stream}.log` : `${stream}.log.${index}`);
  }

  /** Rotates the streams over the size limit (all non-empty ones when force). */
  rotate(force = false): Promise<void> {
    return this.#lock.run(async () => {
      for (const stream of STREAMS) {
        const live = this.path(stream);
        const size = await sizeOf(live);
        if (size === undefined || size === 0 || (!force && size <= this.#options.maxBytes)) continue;
        const keep = this.#options.keep;
        if (keep > 0) {
          await rm(this.path(stream, keep), { force: true });
          for (let i = keep - 1; i >= 1; i--) {
            await rename(this.path(stream, i), this.path(stream, i + 1)).catch(() => undefined);
          }
          await copyFile(live, this.path(stream, 1));
        }
        await truncate(live, 0);
        this.#generation[stream]++;
      }
    });
  }

  async *read(
    options: { tail?: number; follow?: boolean; signal?: AbortSignal },
    hooks: FollowHooks,
  ): AsyncGenerator<LogLine> {
    const { tail, follow = false, signal } = options;
    const aborted = (): boolean => signal?.aborted === true;
    if (!follow) {
      for (const stream of STREAMS) {
        if (tail !== undefined) {
          for (const text of await this.#tail(stream, tail)) yield { stream, text };
        } else {
          yield* this.#all(stream);
        }
      }
      return;
    }
    // Follow: the backlog up to the last whole line of each live file now, then whatever comes after.
    const { cursors, backlog } = await this.#lock.run(async () => {
      const cursors: Cursor[] = [];
      const backlog: LogLine[] = [];
      for (const stream of STREAMS) {
        const end = await lineEndBefore(this.path(stream), (await sizeOf(this.path(stream))) ?? 0);
        const lines =
          tail !== undefined ? await this.#tail(stream, tail, end) : await this.#allLines(stream, end);
        for (const text of lines) backlog.push({ stream, text });
        cursors.push({
          stream,
          generation: this.#generation[stream],
          pos: end,
          splitter: new LineSplitter(),
        });
      }
      return { cursors, backlog };
    });
    for (const line of backlog) {
      if (aborted()) return;
      yield line;
    }
    const changes = new ChangeWatch(dirname(this.path('stdout')));
    try {
      yield* this.#followFrom(cursors, hooks, changes, signal);
    } finally {
      changes.close();
    }
  }

  async *#followFrom(
    cursors: Cursor[],
    hooks: FollowHooks,
    changes: ChangeWatch,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<LogLine> {
    const aborted = (): boolean => signal?.aborted === true;
    while (!aborted() && !hooks.gone()) {
      changes.changed = false;
      const exitedBefore = hooks.exited();
      const lines = await this.#lock.run(async () => {
        const out: LogLine[] = [];
        for (const c of cursors) for (const text of await this.#poll(c)) out.push({ stream: c.stream, text });
        return out;
      });
      if (lines.length > 0) {
        for (const line of lines) {
          if (aborted()) return;
          yield line;
        }
        continue;
      }
      if (exitedBefore) {
        // Nothing more will come: hand out unterminated last lines.
        for (const c of cursors) {
          const rest = c.splitter.flush();
          if (rest !== undefined) yield { stream: c.stream, text: rest };
        }
      }
      await changes.wait(changes.watching ? FOLLOW_WATCHED_MS : FOLLOW_POLL_MS, signal);
    }
  }

  /** New lines of one stream since the cursor, following rotations done meanwhile. */
  async #poll(c: Cursor): Promise<string[]> {
    const lines: string[] = [];
    const sink = (b: Buffer): void => void lines.push(...c.splitter.push(b));
    const generation = this.#generation[c.stream];
    if (generation !== c.generation) {
      // What we had not read yet moved to rotated file number `missed`; newer ones follow.
      const missed = generation - c.generation;
      for (let i = Math.min(missed, this.#options.keep); i >= 1; i--) {
        await readRange(this.path(c.stream, i), i === missed ? c.pos : 0, undefined, sink);
      }
      c.generation = generation;
      c.pos = 0;
    }
    const live = this.path(c.stream);
    const size = await sizeOf(live);
    if (size === undefined) return lines;
    if (size < c.pos) c.pos = 0; // truncated by someone else
    // Nothing new (most polls of a quiet task): no open, read and close of the file.
    if (size > c.pos) c.pos += await readRange(live, c.pos, size, sink);
    return lines;
  }

  /** Every line of a stream, oldest first, streamed. */
  async *#all(stream: LogStream): AsyncGenerator<LogLine> {
    const splitter = new LineSplitter();
    for (let i = this.#options.keep; i >= 0; i--) {
      const lines: string[] = [];
      // Read file by file, a chunk's worth of lines at a time.
      let pos = 0;
      for (;;) {
        const n = await readRange(this.path(stream, i), pos, pos + CHUNK * 16, (b) => {
          lines.push(...splitter.push(b));
        });
        for (const text of lines.splice(0)) yield { stream, text };
        if (n === 0) break;
        pos += n;
      }
    }
    const rest = splitter.flush();
    if (rest !== undefined) yield { stream, text: rest };
  }

  async #allLines(stream: LogStream, liveEnd: number): Promise<string[]> {
    const splitter = new LineSplitter();
    const lines: string[] = [];
    const sink = (b: Buffer): void => void lines.push(...splitter.push(b));
    for (let i = this.#options.keep; i >= 1; i--) await readRange(this.path(stream, i), 0, undefined, sink);
    await readRange(this.path(stream), 0, liveEnd, sink);
    const rest = splitter.flush();
    if (rest !== undefined) lines.push(rest);
    return lines;
  }

  /** The last n lines of a stream, reading files backwards from the end. */
  async #tail(stream: LogStream, n: number, liveEnd?: number): Promise<string[]> {
    if (n <= 0) return [];
    const parts: Buffer[] = [];
    let newlines = 0;
    for (let i = 0; i <= this.#options.keep && newlines <= n; i++) {
      let fh;
      try {
        fh = await open(this.path(stream, i), 'r');
      } catch {
        continue;
      }
      try {
        const size = i === 0 && liveEnd !== undefined ? liveEnd : (await fh.stat()).size;
        let end = size;
        while (end > 0 && newlines <= n) {
          const start = Math.max(0, end - CHUNK);
          const buf = Buffer.alloc(end - start);
          const { bytesRead } = await fh.read(buf, 0, buf.length, start);
          const got = buf.subarray(0, bytesRead);
          parts.unshift(got);
          for (let k = got.indexOf(0x0a); k >= 0; k = got.indexOf(0x0a, k + 1)) newlines++;
          end = start;
        }
      } finally {
        await fh.close();
      }
    }
    const splitter = new LineSplitter();
    const lines = splitter.push(Buffer.concat(parts));
    const rest = splitter.flush();
    if (rest !== undefined) lines.push(rest);
    return lines.slice(-n);
  }
}
