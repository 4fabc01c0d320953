/**
 * Reads conmon's k8s-file logs (CRI format): "TIMESTAMP STREAM P|F TEXT" per line, where P marks a
 * partial line continued by the next record of the same stream and F a full (final) one.
 */
import { open, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { ChangeWatch } from '../../lib/index.ts';
import type { LogLine, LogReadOptions, LogStream } from '../runtime.ts';

export interface CriRecord {
  time: number;
  stream: LogStream;
  partial: boolean;
  text: string;
}

const TS = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$/;

/** RFC 3339 with nanoseconds to epoch milliseconds. */
export function parseTimestamp(ts: string): number | undefined {
  const m = TS.exec(ts);
  if (!m) return undefined;
  const frac = (m[2] ?? '').slice(0, 3).padEnd(3, '0');
  const t = Date.parse(`${m[1]}.${frac}${m[3]}`);
  return Number.isFinite(t) ? t : undefined;
}

export function parseCriLine(line: string): CriRecord | undefined {
  const a = line.indexOf(' ');
  const b = a === -1 ? -1 : line.indexOf(' ', a + 1);
  if (b === -1) return undefined;
  const c = line.indexOf(' ', b + 1);
  const tag = c === -1 ? line.slice(b + 1) : line.slice(b + 1, c);
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const time = parseTimestamp(line.slice(0, a));
  if (time === undefined) return undefined;
  return { time, stream, partial: tag.split(':').includes('P'), text: c === -1 ? '' : line.slice(c + 1) };
}

/** Joins partial records into lines, per stream. */
export class LineAssembler {
  private readonly pending = new Map<LogStream, { time: number; text: string }>();

  push(r: CriRecord): LogLine | undefined {
    const prev = this.pending.get(r.stream);
    const text = (prev?.text ?? '') + r.text;
    const time = prev?.time ?? r.time;
    if (r.partial) {
      this.pending.set(r.stream, { time, text });
      return undefined;
    }
    this.pending.delete(r.stream);
    return { stream: r.stream, time, text };
  }

  /** Partial lines left at the end (output that never got its newline). */
  flush(): LogLine[] {
    const out = [...this.pending.entries()].map(([stream, p]) => ({ stream, time: p.time, text: p.text }));
    this.pending.clear();
    return out;
  }
}

export interface FollowControl {
  /** True once no more output can come (the task has exited and its log is complete). */
  finished(): Promise<boolean>;
}

/** Reads a CRI log file; with follow, keeps reading new records until aborted or finished. */
export async function* readCriLog(
  path: string,
  options: LogReadOptions,
  control: FollowControl,
): AsyncGenerator<LogLine> {
  const signal = options.signal;
  const assembler = new LineAssembler();
  let offset = 0;
  let rest = '';
  // Keeps a character cut by a read's end for the next read (text split per chunk would garble it).
  let decoder = new StringDecoder('utf8');
  let changes: ChangeWatch | undefined;
  const tail = options.tail;
  const backlog: LogLine[] = [];
  let initial = true;

  async function readMore(): Promise<LogLine[]> {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      return [];
    }
    if (size < offset) {
      // Truncated or rotated: start over.
      offset = 0;
      rest = '';
      decoder = new StringDecoder('utf8');
    }
    if (size === offset) return [];
    const fh = await open(path, 'r');
    const out: LogLine[] = [];
    try {
      const buf = Buffer.alloc(Math.min(size - offset, 1024 * 1024));
      while (offset < size) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - offset), offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        const text = rest + decoder.write(buf.subarray(0, bytesRead));
        const lines = text.split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) {
          const rec = parseCriLine(l);
          const line = rec && assembler.push(rec);
          if (line) out.push(line);
        }
      }
    } finally {
      await fh.close();
    }
    return out;
  }

  try {
    for (;;) {
      if (signal?.aborted) return;
      if (changes) changes.changed = false;
      const lines = await readMore();
      if (initial) {
        backlog.push(...lines);
        if (tail !== undefined && backlog.length > tail) backlog.splice(0, backlog.length - tail);
        initial = false;
        if (!options.follow) {
          backlog.push(...assembler.flush());
          if (tail !== undefined && backlog.length > tail) backlog.splice(0, backlog.length - tail);
        }
        yield* backlog;
        backlog.length = 0;
      } else {
        yield* lines;
      }
      if (!options.follow) return;
      if (lines.length === 0 && (await control.finished())) {
        // One last read: the process may have written just before finishing.
        yield* await readMore();
        yield* assembler.flush();
        return;
      }
      // The file may not exist yet: polled until it can be watched.
      if (!changes?.watching) changes = new ChangeWatch(path);
      await changes.wait(250, signal);
    }
  } finally {
    changes?.close();
  }
}
