/**
 * The record of a task's output that could not be written (its host's disk full or read-only):
 * tasks/ID/log-drops.json, kept by the log writer, read by the runtime for `dabba logs`.
 *
 * The file is made at the task's start at its full size (DROPS_FILE_BYTES of spaces) and is only
 * ever overwritten in place (pwrite at 0, padded with spaces): rewriting blocks a file already has
 * needs no free space, so the count can be kept on the very disk that is full.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogDrop } from '../../model/index.ts';
import type { LogStream } from '../runtime.ts';

export const DROPS_FILE = 'log-drops.json';
export const DROPS_FILE_BYTES = 4096;
/** Windows kept (the oldest go first; the totals keep counting). */
const MAX_WINDOWS = 16;

export interface DropsRecord {
  /** Totals since the task started. */
  total: Record<LogStream, { bytes: number; lines: number }>;
  /** The latest windows in which writes failed, oldest first; the last may still be open. */
  windows: LogDrop[];
}

export function emptyDrops(): DropsRecord {
  return { total: { stdout: { bytes: 0, lines: 0 }, stderr: { bytes: 0, lines: 0 } }, windows: [] };
}

/** Creates the file at its full size (at the task's start, while there is room). */
export async function createDropsFile(dir: string): Promise<void> {
  await writeFile(join(dir, DROPS_FILE), Buffer.alloc(DROPS_FILE_BYTES, 0x20), { mode: 0o600 });
}

function isDrop(x: unknown): x is LogDrop {
  const d = x as Partial<LogDrop> | null;
  return (
    typeof d === 'object' &&
    d !== null &&
    (d.stream === 'stdout' || d.stream === 'stderr') &&
    typeof d.from === 'number' &&
    (d.to === undefined || typeof d.to === 'number') &&
    typeof d.bytes === 'number' &&
    typeof d.lines === 'number' &&
    typeof d.reason === 'string'
  );
}

export function parseDrops(text: string): DropsRecord {
  const out = emptyDrops();
  let raw: unknown;
  try {
    raw = JSON.parse(text.trim() || '{}');
  } catch {
    return out;
  }
  const r = raw as { total?: Record<string, { bytes?: unknown; lines?: unknown }>; windows?: unknown };
  for (const s of ['stdout', 'stderr'] as const) {
    const t = r.total?.[s];
    if (typeof t?.bytes === 'number' && typeof t.lines === 'number')
      out.total[s] = { bytes: t.bytes, lines: t.lines };
  }
  if (Array.isArray(r.windows)) out.windows = r.windows.filter(isDrop);
  return out;
}

/** The record of the task in `dir` (empty when there is none). */
export async function readDrops(dir: string): Promise<DropsRecord> {
  return parseDrops(await readFile(join(dir, DROPS_FILE), 'utf8').catch(() => ''));
}

/** The record as the file's bytes: JSON padded with spaces to the file's size (oldest windows cut). */
export function encodeDrops(record: DropsRecord): Buffer {
  while (record.windows.length > MAX_WINDOWS) record.windows.shift();
  for (;;) {
    const json = Buffer.from(JSON.stringify(record));
    if (json.length <= DROPS_FILE_BYTES || record.windows.length === 0) {
      const buf = Buffer.alloc(DROPS_FILE_BYTES, 0x20);
      json.copy(buf, 0, 0, Math.min(json.length, DROPS_FILE_BYTES));
      return buf;
    }
    record.windows.shift();
  }
}

/** Overwrites the record in place; false when the file cannot take it now (tried again later). */
export async function writeDrops(dir: string, record: DropsRecord): Promise<boolean> {
  let fh;
  try {
    fh = await open(join(dir, DROPS_FILE), 'r+');
    await fh.write(encodeDrops(record), 0, DROPS_FILE_BYTES, 0);
    return true;
  } catch {
    return false;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
