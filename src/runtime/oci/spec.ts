/**
 * The OCI runtime config (config.json) of a task: its process, namespaces (pid, mount, uts, ipc,
 * network by path, and cgroup on v2), Docker's default capability set, no_new_privs, the default
 * seccomp profile, masked and read-only /proc and /sys paths, and resource limits.
 */
import type { ResourceSpec } from '../../model/index.ts';
import { INIT_PATH, initArgs } from './init-binary.ts';
import { defaultSeccompProfile, type SeccompProfile } from './seccomp.ts';

/** Docker's default capabilities. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

export const CPU_PERIOD_US = 100_000;

export interface SpecInput {
  args: string[];
  /** KEY=VALUE */
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  hostname: string;
  netnsPath: string;
  cgroupsPath: string;
  resources: ResourceSpec;
  /** Files bind-mounted at /etc/hosts and /etc/hostname. */
  hostsFile: string;
  hostnameFile: string;
  cgroupVersion: 1 | 2;
  /** Whether memory+swap can be limited (v1 without swap accounting cannot). */
  swapLimit: boolean;
  /** Open-file limit (soft = hard); no more than the agent's own hard limit. */
  nofile: number;
  /** Host path of a static init (catatonit) to run as PID 1 in front of `args`; none when absent. */
  init?: string;
  /** The seccomp profile (default: the built-in one). */
  seccomp?: SeccompProfile;
  /**
   * The profile compiled to BPF (base64), for crun: handed over in its `run.oci.seccomp_bpf_data`
   * annotation instead of the profile, which crun would otherwise parse and compile at each start.
   */
  seccompBpf?: string;
  /** Host directories bind-mounted read-only (a task's config directories), or read-write (its volumes). */
  binds?: { source: string; destination: string; readWrite?: true }[];
}

interface Mount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

function devices(): object[] {
  const allow = (type: string, major: number, minor: number | null): object => ({
    allow: true,
    type,
    major,
    ...(minor === null ? {} : { minor }),
    access: 'rwm',
  });
  return [
    { allow: false, access: 'rwm' },
    allow('c', 1, 3), // null
    allow('c', 1, 5), // zero
    allow('c', 1, 7), // full
    allow('c', 1, 8), // random
    allow('c', 1, 9), // urandom
    allow('c', 5, 0), // tty
    allow('c', 5, 1), // console
    allow('c', 5, 2), // ptmx
    allow('c', 136, null), // pts
  ];
}

/** memory and memory+swap limits, CPU quota/period and shares, pids limit (0 means none). */
export function resources(r: ResourceSpec, swapLimit: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { devices: devices() };
  if (r.memoryBytes > 0) {
    out['memory'] = swapLimit ? { limit: r.memoryBytes, swap: r.memoryBytes } : { limit: r.memoryBytes };
  }
  if (r.cpu > 0) {
    out['cpu'] = {
      quota: Math.max(1000, Math.round(r.cpu * CPU_PERIOD_US)),
      period: CPU_PERIOD_US,
      shares: Math.max(2, Math.round(r.cpu * 1024)),
    };
  }
  if (r.pids > 0) out['pids'] = { limit: r.pids };
  return out;
}

export function buildSpec(input: SpecInput): Record<string, unknown> {
  const caps = [...DEFAULT_CAPABILITIES];
  const mounts: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    },
    {
      destination: '/etc/hosts',
      type: 'bind',
      source: input.hostsFile,
      options: ['rbind', 'rprivate', 'rw'],
    },
    {
      destination: '/etc/hostname',
      type: 'bind',
      source: input.hostnameFile,
      options: ['rbind', 'rprivate', 'ro'],
    },
  ];
  if (input.init !== undefined) {
    mounts.push({
      destination: INIT_PATH,
      type: 'bind',
      source: input.init,
      options: ['rbind', 'rprivate', 'ro', 'nosuid', 'nodev'],
    });
  }
  for (const b of input.binds ?? []) {
    mounts.push({
      destination: b.destination,
      type: 'bind',
      source: b.source,
      options: ['rbind', 'rprivate', b.readWrite === true ? 'rw' : 'ro', 'nosuid', 'nodev'],
    });
  }
  const namespaces: { type: string; path?: string }[] = [
    { type: 'pid' },
    { type: 'mount' },
    { type: 'uts' },
    { type: 'ipc' },
    { type: 'network', path: input.netnsPath },
  ];
  if (input.cgroupVersion === 2) namespaces.push({ type: 'cgroup' });
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: input.uid, gid: input.gid },
      args: input.init === undefined ? input.args : initArgs(input.args),
      env: input.env,
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: input.nofile, soft: input.nofile }],
      noNewPrivileges: true,
      oomScoreAdj: 0,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: input.hostname,
    ...(input.seccompBpf === undefined
      ? {}
      : { annotations: { 'run.oci.seccomp_bpf_data': input.seccompBpf } }),
    mounts,
    linux: {
      namespaces,
      cgroupsPath: input.cgroupsPath,
      resources: resources(input.resources, input.swapLimit),
      ...(input.seccompBpf === undefined ? { seccomp: input.seccomp ?? defaultSeccompProfile() } : {}),
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
}
