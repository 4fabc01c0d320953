/**
 * The seccomp profile the distribution ships for containers (Debian's
 * golang-github-containers-common: /usr/share/containers/seccomp.json, the profile Podman uses),
 * turned into the OCI config's `linux.seccomp` the way containers/common does it: the rules for
 * this machine's architecture, for the capabilities tasks get (a rule that includes capabilities
 * applies only when the task has them all; one that excludes any it has does not apply) and for the
 * running kernel (`minKernel`). The built-in profile (seccomp.ts) is the fallback when the file is
 * absent or cannot be used; which one a host uses is reported with the host (`dabba hosts`).
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { defaultSeccompProfile, type SeccompArg, type SeccompProfile, type SeccompRule } from './seccomp.ts';

export const DISTRIBUTION_SECCOMP_PATH = '/usr/share/containers/seccomp.json';

/** Which profile a runtime uses, and why. */
export interface SeccompChoice {
  profile: SeccompProfile;
  /** `distribution` (with `path`) or `built-in` (with `reason` when a distribution file was refused). */
  source: 'distribution' | 'built-in';
  path?: string;
  reason?: string;
}

/** Node's process.arch -> the Go names the profile's `arches` use, and the archMap's main arch. */
const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: 'x86', arm: 'arm' };
const SCMP_ARCH: Record<string, string> = {
  x64: 'SCMP_ARCH_X86_64',
  arm64: 'SCMP_ARCH_AARCH64',
  ia32: 'SCMP_ARCH_X86',
  arm: 'SCMP_ARCH_ARM',
};
const ACTIONS = new Set([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);
const OPS = new Set([
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
]);

interface Filter {
  arches?: string[];
  caps?: string[];
  minKernel?: string;
}

class ProfileError extends Error {}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ProfileError(`${where}: not an object`);
  return v as Record<string, unknown>;
}

function strings(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new ProfileError(`${where}: not a list of strings`);
  return v;
}

function filter(v: unknown, where: string): Filter {
  if (v === undefined || v === null) return {};
  const o = obj(v, where);
  const out: Filter = {
    arches: strings(o['arches'], `${where}.arches`),
    caps: strings(o['caps'], `${where}.caps`),
  };
  if (typeof o['minKernel'] === 'string' && o['minKernel'] !== '') out.minKernel = o['minKernel'];
  return out;
}

/** "5.10.0-23-amd64" -> [5, 10]; compares major.minor as containers/common does. */
function kernelAtLeast(running: string, min: string): boolean {
  const parse = (s: string): number[] => (/^(\d+)\.(\d+)/.exec(s) ?? []).slice(1).map(Number);
  const [a = 0, b = 0] = parse(running);
  const [x = 0, y = 0] = parse(min);
  return a > x || (a === x && b >= y);
}

function args(v: unknown, where: string): SeccompArg[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new ProfileError(`${where}: not a list`);
  const out = v.map((a, i) => {
    const o = obj(a, `${where}[${i}]`);
    const op = o['op'];
    if (typeof op !== 'string' || !OPS.has(op))
      throw new ProfileError(`${where}[${i}].op: unknown "${String(op)}"`);
    const num = (k: string): number => {
      const n = o[k] ?? 0;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
        throw new ProfileError(`${where}[${i}].${k}: not a number`);
      return n;
    };
    const arg: SeccompArg = { index: num('index'), value: num('value'), op };
    const two = num('valueTwo');
    if (two !== 0) arg.valueTwo = two;
    return arg;
  });
  return out.length > 0 ? out : undefined;
}

export interface TranslateOptions {
  /** Capabilities tasks run with. */
  capabilities: readonly string[];
  /** process.arch of the host (default this one). */
  arch?: string;
  /** The running kernel's release (default os.release()). */
  kernel?: string;
}

/** The OCI profile for this host from a Docker/containers-format profile; throws ProfileError. */
export function translateProfile(json: unknown, o: TranslateOptions): SeccompProfile {
  const arch = o.arch ?? process.arch;
  const kernel = o.kernel ?? release();
  const goArch = GO_ARCH[arch];
  const main = SCMP_ARCH[arch];
  if (goArch === undefined || main === undefined)
    throw new ProfileError(`architecture ${arch} is not supported`);
  const p = obj(json, 'profile');
  const defaultAction = p['defaultAction'];
  if (typeof defaultAction !== 'string' || !ACTIONS.has(defaultAction))
    throw new ProfileError(`defaultAction: unknown "${String(defaultAction)}"`);
  const architectures = [main];
  if (p['archMap'] !== undefined) {
    if (!Array.isArray(p['archMap'])) throw new ProfileError('archMap: not a list');
    for (const [i, m] of p['archMap'].entries()) {
      const e = obj(m, `archMap[${i}]`);
      if (e['architecture'] === main)
        architectures.push(...strings(e['subArchitectures'], `archMap[${i}].subArchitectures`));
    }
  }
  if (!Array.isArray(p['syscalls'])) throw new ProfileError('syscalls: not a list');
  const caps = new Set(o.capabilities);
  const syscalls: SeccompRule[] = [];
  for (const [i, s] of p['syscalls'].entries()) {
    const where = `syscalls[${i}]`;
    const r = obj(s, where);
    const names = strings(r['names'], `${where}.names`);
    if (typeof r['name'] === 'string') names.push(r['name']);
    const action = r['action'];
    if (typeof action !== 'string' || !ACTIONS.has(action))
      throw new ProfileError(`${where}.action: unknown "${String(action)}"`);
    const inc = filter(r['includes'], `${where}.includes`);
    const exc = filter(r['excludes'], `${where}.excludes`);
    if (inc.arches?.length && !inc.arches.includes(goArch)) continue;
    if (exc.arches?.includes(goArch)) continue;
    if (inc.caps?.length && !inc.caps.every((c) => caps.has(c))) continue;
    if (exc.caps?.some((c) => caps.has(c))) continue;
    if (inc.minKernel !== undefined && !kernelAtLeast(kernel, inc.minKernel)) continue;
    if (names.length === 0) continue;
    const rule: SeccompRule = { names, action };
    const errnoRet = r['errnoRet'];
    if (typeof errnoRet === 'number' && Number.isInteger(errnoRet)) rule.errnoRet = errnoRet;
    const a = args(r['args'], `${where}.args`);
    if (a !== undefined) rule.args = a;
    syscalls.push(rule);
  }
  const defaultErrnoRet = typeof p['defaultErrnoRet'] === 'number' ? p['defaultErrnoRet'] : 1;
  return { defaultAction, defaultErrnoRet, architectures, syscalls };
}

/**
 * The distribution's profile when `path` holds a usable one, else the built-in one (saying why the
 * file was not used, when it exists).
 */
export function chooseSeccompProfile(o: TranslateOptions & { path?: string }): SeccompChoice {
  const path = o.path ?? DISTRIBUTION_SECCOMP_PATH;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { profile: defaultSeccompProfile(o.arch), source: 'built-in' };
  }
  try {
    return { profile: translateProfile(JSON.parse(text), o), source: 'distribution', path };
  } catch (e) {
    return {
      profile: defaultSeccompProfile(o.arch),
      source: 'built-in',
      reason: `${path} was not used: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
}
