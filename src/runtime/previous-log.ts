/**
 * The log of a task's previous run, kept across a restart in place (`remove(id, { restarting })`):
 * the last PREVIOUS_LOG_MAX_BYTES of each log file, cut at a line start, so a crash loop's output is
 * still there while the task waits to start again. Replaced at each restart, deleted with the task.
 */
import { open, rename } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

/** At most this much of a run's log is kept (per file). */
export const PREVIOUS_LOG_MAX_BYTES = 1024 * 1024;

/**
 * Copies the last `maxBytes` of `src` (from the first line start in that window) to `dest`,
 * atomically; an empty `dest` when `src` does not exist.
 */
export async function keepTail(src: string, dest: string, maxBytes = PREVIOUS_LOG_MAX_BYTES): Promise<void> {
  let data = Buffer.alloc(0);
  const f = await open(src, 'r').catch(() => undefined);
  if (f) {
    try {
      const size = (await f.stat()).size;
      const start = Math.max(0, size - maxBytes);
      const buf = Buffer.alloc(size - start);
      const { bytesRead } = await f.read(buf, 0, buf.length, start);
      data = buf.subarray(0, bytesRead);
      if (start > 0) {
        const nl = data.indexOf(10);
        data = nl === -1 ? Buffer.alloc(0) : data.subarray(nl + 1);
      }
    } finally {
      await f.close();
    }
  }
  const tmp = `${dest}.${randomBytes(4).toString('hex')}`;
  const out = await open(tmp, 'w', 0o600);
  try {
    await out.writeFile(data);
  } finally {
    await out.close();
  }
  await rename(tmp, dest);
}
