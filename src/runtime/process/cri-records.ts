/**
 * conmon's CRI log records ("TIMESTAMP STREAM P|F TEXT\n") as the log writer sees them coming down
 * a container's log pipe (log-writer.ts `openCri`): only whole records are written (a record cut by a
 * failed write would run into the next one), and a dropped run of records is counted as the
 * container's own output: per stream, the text's bytes plus the newline a full (F) record ended with,
 * and one line per full record.
 */
import type { LogStream } from '../runtime.ts';

export const CRI_PIPE = 'ctr.pipe';
export const CRI_LOG = 'ctr.log';
/** The log's size limit for a writer started again (it is not told): `{ "maxBytes": N }`. */
export const CRI_LIMIT_FILE = 'ctr.limit.json';

export type DroppedOutput = Record<LogStream, { bytes: number; lines: number }>;

/** Splits `buf` at its last newline: the whole records, and the start of the next one. */
export function wholeRecords(buf: Buffer): { records: Buffer; rest: Buffer } {
  const end = buf.lastIndexOf(0x0a);
  return end < 0
    ? { records: buf.subarray(0, 0), rest: buf }
    : { records: buf.subarray(0, end + 1), rest: buf.subarray(end + 1) };
}

/** The container output that whole `records` carried, per stream. */
export function outputOf(records: Buffer): DroppedOutput {
  const out: DroppedOutput = { stdout: { bytes: 0, lines: 0 }, stderr: { bytes: 0, lines: 0 } };
  let start = 0;
  for (let nl = records.indexOf(0x0a); nl >= 0; nl = records.indexOf(0x0a, start)) {
    const line = records.subarray(start, nl);
    start = nl + 1;
    const a = line.indexOf(0x20);
    const b = a < 0 ? -1 : line.indexOf(0x20, a + 1);
    if (b < 0) continue;
    const stream = line.subarray(a + 1, b).toString('latin1');
    if (stream !== 'stdout' && stream !== 'stderr') continue;
    const c = line.indexOf(0x20, b + 1);
    const tag = line.subarray(b + 1, c < 0 ? line.length : c).toString('latin1');
    const full = !tag.split(':').includes('P');
    const text = c < 0 ? 0 : line.length - c - 1;
    out[stream].bytes += text + (full ? 1 : 0);
    if (full) out[stream].lines++;
  }
  return out;
}
