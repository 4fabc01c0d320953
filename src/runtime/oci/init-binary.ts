/**
 * The container init: Debian's `catatonit` (what Podman's `--init` runs), a static binary
 * bind-mounted read-only into each container and run as its PID 1 in front of the task's command
 * (`/run/dabba-init -- CMD...`). As PID 1 it forwards the signals it gets (runc kill's SIGTERM) to
 * the command, which then gets the default action of a signal it has no handler for (as PID 1 it
 * would be ignored), and it reaps the zombies orphans leave; it exits with the command's status.
 */
import { open, realpath } from 'node:fs/promises';
import { findExecutable } from './tool.ts';

/** Where the init appears inside the container. */
export const INIT_PATH = '/run/dabba-init';

const CANDIDATES = [
  '/usr/bin/catatonit',
  '/usr/libexec/podman/catatonit',
  '/usr/libexec/catatonit/catatonit',
];

/** The process args of a task run under the init. */
export function initArgs(args: readonly string[]): string[] {
  return [INIT_PATH, '--', ...args];
}

/**
 * Whether `path` is an ELF executable without a program interpreter (statically linked): only such
 * a binary runs in any image.
 */
export async function isStaticElf(path: string): Promise<boolean> {
  const f = await open(path, 'r').catch(() => undefined);
  if (!f) return false;
  try {
    const head = Buffer.alloc(64);
    await f.read(head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) return false;
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (o: number): number => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(le ? head.readBigUInt64LE(32) : head.readBigUInt64BE(32)) : u32(head, 28);
    const phentsize = u16(is64 ? 54 : 42);
    const phnum = u16(is64 ? 56 : 44);
    if (phnum === 0 || phentsize < 4 || phnum > 256) return false;
    const table = Buffer.alloc(phentsize * phnum);
    await f.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (u32(table, i * phentsize) === 3 /* PT_INTERP */) return false;
    return true;
  } finally {
    await f.close();
  }
}

/** The host's catatonit, resolved and checked to be static; undefined when there is none usable. */
export async function findInit(): Promise<string | undefined> {
  const onPath = await findExecutable('catatonit');
  for (const p of [...CANDIDATES, ...(onPath ? [onPath] : [])]) {
    const real = await realpath(p).catch(() => undefined);
    if (real !== undefined && (await isStaticElf(real))) return real;
  }
  return undefined;
}
