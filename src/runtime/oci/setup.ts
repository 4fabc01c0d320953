/**
 * The oci runtime's one-time setup on a host: the tools it needs, its directories, the cgroup
 * layout, the bridge and the address allocator, the container init. Also where the fork helper
 * leaves its output, and the sweep of helpers' directories left by agents that are gone.
 */
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../lib/index.ts';
import { detectCgroups, exists, type CgroupLayout } from './cgroups.ts';
import type { ToolRunner } from './fork-helper.ts';
import { findInit } from './init-binary.ts';
import { Ipam, parseSubnet, type Subnet } from './ipam.ts';
import { BridgeNetwork } from './network.ts';
import type { OciRuntimeOptions } from './options.ts';
import { OciCli } from './oci-cli.ts';
import type { OciPaths } from './paths.ts';
import { fail, openFileLimit } from './support.ts';
import { isAlive } from './task-record.ts';
import { findExecutable, runTool } from './tool.ts';

export interface Ready {
  cli: OciCli;
  conmon: string;
  layout: CgroupLayout;
  swapLimit: boolean;
  ipam: Ipam;
  network: BridgeNetwork;
  nofile: number;
  /** The container init (catatonit), if the host has a usable one. */
  init: string | undefined;
}

export const HELPER_PREFIX = 'dabba-helper-';

/**
 * Where the fork helper leaves the tools' output for a moment: tmpfs (/dev/shm) when there is one,
 * since creating and deleting two files per tool on ext4 costs measurable CPU in a burst of starts.
 */
export function helpersBase(stateDir: string): string {
  try {
    if (statSync('/dev/shm').isDirectory()) {
      accessSync('/dev/shm', fsConstants.W_OK);
      return '/dev/shm';
    }
  } catch {
    // no tmpfs: the state directory
  }
  return join(stateDir, 'helpers');
}

export interface SetupInput {
  paths: OciPaths;
  ociRuntime: 'runc' | 'crun' | undefined;
  /** The subnet and bridge from the options, and the host's range from the control plane. */
  network: OciRuntimeOptions['network'];
  assigned: { subnet: string; taskNetwork?: string } | undefined;
  helpersDir: string;
  run: ToolRunner;
  logger: Logger;
}

export async function setupOci(o: SetupInput): Promise<Ready> {
  const which = o.ociRuntime ?? ((await findExecutable('crun')) ? 'crun' : 'runc');
  const runtimePath = await findExecutable(which);
  if (!runtimePath) throw fail('Unavailable', `${which} not found on PATH`);
  const conmon = await findExecutable('conmon');
  if (!conmon) throw fail('Unavailable', 'conmon not found on PATH');
  const ip = await findExecutable('ip');
  if (!ip) throw fail('Unavailable', 'ip (iproute2) not found on PATH');
  const nft = await findExecutable('nft');
  const { paths } = o;
  for (const d of [paths.tasksDir, paths.exitsDir, paths.socketsDir, paths.previousDir, paths.runtimeRoot]) {
    await mkdir(d, { recursive: true, mode: 0o700 });
  }
  await removeStaleHelperDirs(o.helpersDir);
  let layout = await detectCgroups();
  if (which === 'crun' && layout.version === 1 && !layout.v1.has('hugetlb')) {
    await mountHugetlb(o.logger);
    layout = await detectCgroups();
  }
  const memoryMount = layout.v1.get('memory');
  const swapLimit =
    layout.version === 2 ||
    (memoryMount !== undefined &&
      (await exists(join(memoryMount.mountpoint, 'memory.memsw.limit_in_bytes'))));
  // A subnet configured on the agent wins (useNetwork is absent then); else the host's range
  // from the control plane; else the default.
  const assigned = o.assigned;
  const subnet = parseSubnet(o.network?.subnet ?? assigned?.subnet ?? '10.88.0.0/16');
  const ipam = ipamFor(join(paths.stateDir, 'ipam.json'), subnet);
  const network = new BridgeNetwork({
    bridge: o.network?.bridge ?? 'dabba0',
    subnet,
    ...(assigned?.taskNetwork === undefined ? {} : { taskNetwork: parseSubnet(assigned.taskNetwork) }),
    ip,
    ...(nft ? { nft } : {}),
    logger: o.logger,
    run: o.run,
    ...(o.network?.proxyPorts === undefined ? {} : { proxyPorts: o.network.proxyPorts }),
  });
  const holder = (await ipam.list())[subnet.gateway];
  if (holder !== undefined) {
    o.logger.warn(
      { gateway: subnet.gateway, task: holder },
      "a task from before the subnet changed holds this range's gateway address; restart it",
    );
  }
  await network.ensureBridge();
  const cli = new OciCli(which, runtimePath, paths.runtimeRoot, o.run);
  const init = await findInit();
  if (init === undefined) {
    o.logger.warn(
      'no static catatonit found (apt-get install catatonit): containers run their command as PID 1, ' +
        'where a SIGTERM it has no handler for is ignored and zombies are not reaped',
    );
  }
  return { cli, conmon, layout, swapLimit, ipam, network, nofile: await openFileLimit(), init };
}

/**
 * One allocator per file and range in this process: a setup run again (restart-runtime) shares the
 * allocator's lock with starts still in flight on the previous setup.
 */
const ipams = new Map<string, Ipam>();
function ipamFor(file: string, subnet: Subnet): Ipam {
  const key = `${file}|${subnet.cidr}`;
  let ipam = ipams.get(key);
  if (ipam === undefined) {
    ipam = new Ipam(file, subnet);
    ipams.set(key, ipam);
  }
  return ipam;
}

/** Output directories of fork helpers of agents that are gone (a kill -9 leaves one behind). */
async function removeStaleHelperDirs(helpersDir: string): Promise<void> {
  for (const name of await readdir(helpersDir).catch(() => [] as string[])) {
    if (!name.startsWith(HELPER_PREFIX)) continue;
    const pid = Number(name.slice(HELPER_PREFIX.length).split('-')[0]);
    if (pid === process.pid || (Number.isInteger(pid) && pid > 0 && (await isAlive(pid)))) continue;
    await rm(join(helpersDir, name), { recursive: true, force: true });
  }
}

/** crun refuses a v1 host where hugetlb is not mounted as v1: mount it if the kernel has it. */
async function mountHugetlb(logger: Logger): Promise<void> {
  const cgroups = await readFile('/proc/cgroups', 'utf8').catch(() => '');
  if (!/^hugetlb\s+\d+\s+\d+\s+1$/m.test(cgroups)) return;
  await mkdir('/sys/fs/cgroup/hugetlb', { recursive: true });
  const r = await runTool('mount', ['-t', 'cgroup', '-o', 'hugetlb', 'cgroup', '/sys/fs/cgroup/hugetlb']);
  if (r.code !== 0) logger.warn({ err: r.stderr.trim() }, 'could not mount the hugetlb cgroup for crun');
  else logger.info('mounted the hugetlb cgroup (v1) for crun');
}
