/**
 * The proxy's log (HAProxy writes its JSON access log and its own messages to stdout/stderr, which
 * are this file, opened O_APPEND) kept within a size: past `maxBytes` it is copied to `.1` (the one
 * before is dropped) and truncated in place, as logrotate's copytruncate does, so HAProxy keeps its
 * file descriptor and goes on writing at the new end. Lines written between the copy and the
 * truncation are lost (at most what HAProxy writes in that instant).
 */
import { copyFile, stat, truncate } from 'node:fs/promises';

/** The default size of the proxy's log before it is rotated (16 MiB; with `.1`, 32 MiB at most). */
export const PROXY_LOG_MAX_BYTES = 16 * 1024 * 1024;

/** Rotates `path` if it is larger than `maxBytes`; whether it did. Never throws. */
export async function rotateIfLarge(path: string, maxBytes: number): Promise<boolean> {
  try {
    const st = await stat(path);
    if (st.size <= maxBytes) return false;
    await copyFile(path, `${path}.1`);
    await truncate(path, 0);
    return true;
  } catch {
    // absent, or a full or read-only disk: try again at the next check
    return false;
  }
}
