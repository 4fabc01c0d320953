/**
 * Looks things up inside a task's root filesystem from the host: a command the way execvp would
 * find it (so a missing one is reported before the container is created), and a user name.
 * Symlinks are followed relative to the rootfs, never out of it.
 */
import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';

/** The host path `path` (absolute, inside the container) resolves to, or undefined if missing. */
export async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  const pending = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let st;
    try {
      st = await lstat(host);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++links > 40) return undefined;
      const target = await readlink(host);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    done.push(part);
  }
  return join(root, ...done);
}

async function isExecutable(hostPath: string | undefined): Promise<boolean> {
  if (!hostPath) return false;
  try {
    const st = await stat(hostPath);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** The in-container path of `command` (PATH search unless it has a slash), or undefined. */
export async function findCommand(
  root: string,
  command: string,
  pathEnv: string,
  cwd: string,
): Promise<string | undefined> {
  if (command === '') return undefined;
  if (command.includes('/')) {
    const p = posix.resolve(cwd, command);
    return (await isExecutable(await resolveInRoot(root, p))) ? p : undefined;
  }
  for (const dir of pathEnv.split(':')) {
    const p = posix.join(posix.resolve(cwd, dir || '.'), command);
    if (await isExecutable(await resolveInRoot(root, p))) return p;
  }
  return undefined;
}

async function readEtc(root: string, file: string): Promise<string[][]> {
  const p = await resolveInRoot(root, `/etc/${file}`);
  if (!p) return [];
  try {
    return (await readFile(p, 'utf8')).split('\n').map((l) => l.split(':'));
  } catch {
    return [];
  }
}

/**
 * uid/gid for an image's User ("", "name", "uid", "name:group", "uid:gid"), looked up in the
 * rootfs's /etc/passwd and /etc/group. Undefined when a name is unknown.
 */
export async function lookupUser(
  root: string,
  user: string,
): Promise<{ uid: number; gid: number } | undefined> {
  if (user === '') return { uid: 0, gid: 0 };
  const [u = '', g] = user.split(':');
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const row = (await readEtc(root, 'passwd')).find((r) => r[2] === u);
    if (row?.[3] !== undefined) gid = Number(row[3]);
  } else {
    const row = (await readEtc(root, 'passwd')).find((r) => r[0] === u);
    if (!row || row[2] === undefined) return undefined;
    uid = Number(row[2]);
    gid = Number(row[3]);
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const row = (await readEtc(root, 'group')).find((r) => r[0] === g);
      if (!row || row[2] === undefined) return undefined;
      gid = Number(row[2]);
    }
  }
  return { uid, gid: gid ?? 0 };
}
