/** Whether the listed system packages are present: by the executable each one installs. */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { isDynamicElf } from '../elf.ts';
import type { SkipVariable, SystemPackage } from './packages.ts';

/** Searched after PATH, as the runtime searches for its tools (root's PATH may lack sbin). */
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export type Env = Record<string, string | undefined>;

export interface PackageStatus {
  pkg: SystemPackage;
  /** Where its executable is (absent: not found, or not usable). */
  path?: string;
  present: boolean;
  /** Why it is not usable, when it is not: "runc not found on PATH", "... is dynamically linked". */
  problem?: string;
  /** Needed by this run: false when every one of its skip variables is set to 1. */
  required: boolean;
  /** The skip variables that excuse it in this run (empty when required). */
  skippedBy: SkipVariable[];
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of an executable: a path as given, else the first match on PATH and the system dirs. */
export async function findCommand(command: string, env: Env = process.env): Promise<string | undefined> {
  if (command.includes('/')) return (await executable(command)) ? command : undefined;
  const dirs = [...(env['PATH'] ?? '').split(delimiter), ...SYSTEM_DIRS].filter((d) => d.startsWith('/'));
  for (const d of new Set(dirs)) {
    const p = join(d, command);
    if (await executable(p)) return p;
  }
  return undefined;
}

export async function checkPackage(pkg: SystemPackage, env: Env = process.env): Promise<PackageStatus> {
  const skipped = pkg.skippedBy.length > 0 && pkg.skippedBy.every((v) => env[v] === '1');
  const base = { pkg, required: !skipped, skippedBy: skipped ? [...pkg.skippedBy] : [] };
  const override = pkg.override === undefined ? undefined : env[pkg.override];
  const wanted = override !== undefined && override !== '' ? override : pkg.command;
  if (pkg.file) {
    const present = await access(wanted, constants.R_OK).then(
      () => true,
      () => false,
    );
    return present
      ? { ...base, path: wanted, present }
      : { ...base, present, problem: `${wanted} not found` };
  }
  const path = await findCommand(wanted, env);
  if (path === undefined) {
    const where = wanted.includes('/') ? 'not found' : 'not found on PATH';
    const via = wanted === pkg.command ? '' : ` (from ${pkg.override})`;
    return { ...base, present: false, problem: `${wanted}${via} ${where}` };
  }
  if (pkg.static && (await isDynamicElf(path).catch(() => true))) {
    return { ...base, path, present: false, problem: `${path} is not a static executable` };
  }
  return { ...base, path, present: true };
}

/** Every package of the list, checked at once. */
export function checkPackages(
  list: readonly SystemPackage[],
  env: Env = process.env,
): Promise<PackageStatus[]> {
  return Promise.all(list.map((p) => checkPackage(p, env)));
}

/** The packages this run needs and lacks. */
export function missingPackages(statuses: readonly PackageStatus[]): string[] {
  return [...new Set(statuses.filter((s) => s.required && !s.present).map((s) => s.pkg.package))];
}
