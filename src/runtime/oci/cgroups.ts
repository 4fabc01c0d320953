/**
 * Cgroups as they are on this host: v1 (one hierarchy per controller, possibly with a v2 "unified"
 * mount beside it) or v2. A task's real cgroup directories are read from /proc/PID/cgroup (runc
 * and crun place relative paths differently), and usage/OOM counters come from there.
 */
import { readFileSync } from 'node:fs';
import { readFile, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskUsage } from '../../model/index.ts';
import { attempt } from '../../lib/attempt.ts';

interface Mount {
  mountpoint: string;
  /** Path of the mount's root inside the hierarchy ("/" unless the mount is of a sub-cgroup). */
  root: string;
}

export interface CgroupLayout {
  /** 2 when /sys/fs/cgroup is the unified hierarchy; 1 otherwise (including hybrid). */
  version: 1 | 2;
  /** v1 controller (or "name=systemd") -> its mount. */
  v1: Map<string, Mount>;
  unified?: Mount;
}

/** The directories of one task's cgroup, by role, plus every directory it has (for cleanup). */
export interface CgroupPaths {
  version: 1 | 2;
  memory?: string;
  /** cpu controller (quota, shares / cpu.max). */
  cpu?: string;
  /** CPU accounting (cpuacct on v1; the same directory as cpu on v2). */
  cpuacct?: string;
  pids?: string;
  /** All hierarchies the task is in (v1 controllers and unified). */
  all: string[];
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export async function detectCgroups(): Promise<CgroupLayout> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const v1 = new Map<string, Mount>();
  let unified: Mount | undefined;
  let rootIsV2 = false;
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep === -1) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fstype = right[0];
    const root = unescape(left[3] ?? '/');
    const mountpoint = unescape(left[4] ?? '');
    if (fstype === 'cgroup2') {
      unified ??= { mountpoint, root };
      if (mountpoint === '/sys/fs/cgroup') {
        rootIsV2 = true;
        unified = { mountpoint, root };
      }
    } else if (fstype === 'cgroup') {
      for (const opt of (right[2] ?? '').split(',')) {
        if (opt === 'rw' || opt === 'ro' || opt.startsWith('release_agent') || opt === 'clone_children')
          continue;
        if (!v1.has(opt)) v1.set(opt, { mountpoint, root });
      }
    }
  }
  const layout: CgroupLayout = { version: rootIsV2 || v1.size === 0 ? 2 : 1, v1 };
  if (unified) layout.unified = unified;
  return layout;
}

function onDisk(m: Mount, path: string): string {
  const rel = m.root !== '/' && path.startsWith(m.root) ? path.slice(m.root.length) : path;
  return join(m.mountpoint, rel);
}

/**
 * Where the cgroups of `pid` are on disk (from /proc/PID/cgroup). A synchronous read: /proc never
 * waits for a disk, and a start waits for this between `create` and `start` (no trips through
 * Node's file-system threads). Rejects if the process is gone.
 */
export function cgroupPathsOf(pid: number, layout: CgroupLayout): Promise<CgroupPaths> {
  return attempt(() => parseCgroupPaths(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), layout));
}

function parseCgroupPaths(text: string, layout: CgroupLayout): CgroupPaths {
  const out: CgroupPaths = { version: layout.version, all: [] };
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const controllers = m[2] ?? '';
    const path = m[3] ?? '/';
    if (controllers === '') {
      if (!layout.unified) continue;
      const dir = onDisk(layout.unified, path);
      out.all.push(dir);
      if (layout.version === 2) {
        out.memory = dir;
        out.cpu = dir;
        out.cpuacct = dir;
        out.pids = dir;
      }
      continue;
    }
    const first = controllers.split(',')[0] ?? '';
    const mount = layout.v1.get(first);
    if (!mount) continue;
    const dir = onDisk(mount, path);
    out.all.push(dir);
    for (const c of controllers.split(',')) {
      if (c === 'memory') out.memory = dir;
      if (c === 'cpu') out.cpu = dir;
      if (c === 'cpuacct') out.cpuacct = dir;
      if (c === 'pids') out.pids = dir;
    }
  }
  return out;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function keyed(text: string | undefined, key: string): number | undefined {
  if (text === undefined) return undefined;
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

async function readNumber(path: string): Promise<number | undefined> {
  const t = await readText(path);
  if (t === undefined) return undefined;
  const n = Number(t.trim());
  return Number.isFinite(n) ? n : undefined;
}

/** CPU seconds used, memory in use (less inactive page cache) and process count. */
export async function readUsage(paths: CgroupPaths): Promise<TaskUsage | undefined> {
  if (!paths.memory && !paths.cpuacct && !paths.pids) return undefined;
  let cpuSeconds = 0;
  let memoryBytes = 0;
  let pids = 0;
  if (paths.version === 2) {
    const cpuStat = paths.cpuacct ? await readText(join(paths.cpuacct, 'cpu.stat')) : undefined;
    cpuSeconds = (keyed(cpuStat, 'usage_usec') ?? 0) / 1e6;
    const current = paths.memory ? await readNumber(join(paths.memory, 'memory.current')) : undefined;
    const memStat = paths.memory ? await readText(join(paths.memory, 'memory.stat')) : undefined;
    memoryBytes = Math.max(0, (current ?? 0) - (keyed(memStat, 'inactive_file') ?? 0));
  } else {
    const usage = paths.cpuacct ? await readNumber(join(paths.cpuacct, 'cpuacct.usage')) : undefined;
    cpuSeconds = (usage ?? 0) / 1e9;
    const current = paths.memory ? await readNumber(join(paths.memory, 'memory.usage_in_bytes')) : undefined;
    const memStat = paths.memory ? await readText(join(paths.memory, 'memory.stat')) : undefined;
    memoryBytes = Math.max(0, (current ?? 0) - (keyed(memStat, 'total_inactive_file') ?? 0));
  }
  if (paths.pids) pids = (await readNumber(join(paths.pids, 'pids.current'))) ?? 0;
  return { cpuSeconds, memoryBytes, pids };
}

/** How many times the kernel's OOM killer killed a process of this cgroup. */
export async function oomKillCount(paths: CgroupPaths): Promise<number> {
  if (!paths.memory) return 0;
  if (paths.version === 2) return keyed(await readText(join(paths.memory, 'memory.events')), 'oom_kill') ?? 0;
  return keyed(await readText(join(paths.memory, 'memory.oom_control')), 'oom_kill') ?? 0;
}

/** The memory limit in force (bytes), for checks. */
export async function memoryLimit(paths: CgroupPaths): Promise<number | undefined> {
  if (!paths.memory) return undefined;
  if (paths.version === 2) {
    const t = (await readText(join(paths.memory, 'memory.max')))?.trim();
    return t === undefined || t === 'max' ? undefined : Number(t);
  }
  return readNumber(join(paths.memory, 'memory.limit_in_bytes'));
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes the task's cgroup directories that are still there (the OCI runtime normally does it on
 * delete). Only leaves that end in `leaf` are touched, so a parent is never removed.
 */
export async function removeCgroupDirs(paths: CgroupPaths, leaf: string): Promise<string[]> {
  const left: string[] = [];
  for (const dir of paths.all) {
    if (!dir.endsWith(`/${leaf}`)) continue;
    if (!(await exists(dir))) continue;
    try {
      await rmdir(dir);
    } catch {
      left.push(dir);
    }
  }
  return left;
}
