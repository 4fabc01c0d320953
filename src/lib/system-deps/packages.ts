/**
 * The system packages Dabba's tests (and its features) need: the one list. `npm test` checks it
 * first (scripts/preflight.ts) and installs what is missing as root on Debian/Ubuntu; `dabba doctor`
 * and `npm run doctor` report it; `.ci/run` has no list of its own.
 *
 * To add a package (docs/testing.md says more):
 *  1. add an entry below: the Debian package, the executable that proves it is installed (looked up
 *     on PATH plus the sbin/bin directories, as the runtime looks tools up), the feature that uses it
 *     and the skip variables that may excuse it (none: every `npm test` needs it);
 *  2. use it in code and tests. A test whose package is missing must fail saying so, never skip
 *     (only the suites' DABBA_SKIP_* variables below skip, and `npm test` never sets them).
 * List what the code and tests use today, no more: a package a feature will need is added with
 * that feature. To try one before adding it, DABBA_EXTRA_SYSTEM_PACKAGES=pkg[:command],... adds it
 * for one run.
 */

/**
 * The variables that skip suites (when set to 1, by a person; npm test never sets them): container
 * tests (test/oci, test/e2e/oci-*, src/image/layers), etcd (src/store/etcd, test/ha/*etcd*), and the
 * testbed of network-namespace hosts (test/fleet).
 */
export const SKIP_VARIABLES = {
  DABBA_SKIP_OCI: 'container tests',
  DABBA_SKIP_ETCD: 'etcd store tests',
  DABBA_SKIP_NETNS: 'testbed tests',
} as const;
export type SkipVariable = keyof typeof SKIP_VARIABLES;

/** Features of Dabba that need system packages (what `dabba doctor` reports on). */
export const FEATURES = {
  containers: 'containers: the oci runtime (runc or crun under conmon)',
  'task-network': 'task network: bridge, veth pairs, routes (oci) and testbed namespaces',
  isolation: "isolation between jobs' tasks on the task network (nftables rules)",
  images: 'the built-in busybox and hello images (image store tests, `dabba dev` with containers)',
  'exec-terminal': '`dabba exec -t`: a terminal (pty) for the command, with either runtime',
  'etcd-store': 'the etcd store (`dabba server --store etcd://...`, HA tests)',
  prometheus:
    'Prometheus interoperation: a real Prometheus scrapes /metrics and /federate (telemetry tests, bench/tsdb.ts)',
  'web-ui-tests': "the web UI's tests in a real browser (test/ui)",
  mesh: "the service mesh's data plane: one HAProxy per host, supervised by the agent",
  volumes: 'volumes as btrfs subvolumes with a size limit, where the data dir is on btrfs (docs/volumes.md)',
  extra: 'packages added for this run by DABBA_EXTRA_SYSTEM_PACKAGES',
} as const;
export type Feature = keyof typeof FEATURES;

export interface SystemPackage {
  /** The Debian/Ubuntu package name. */
  package: string;
  /** The executable that proves the package is installed (with `file`: an absolute path to a file). */
  command: string;
  /** `command` is a data file the package installs (a package with no executable), not a program. */
  file?: true;
  /** An environment variable that names another binary to use instead (then that one is checked). */
  override?: string;
  /** The executable must be statically linked (it is copied into images). */
  static?: true;
  feature: Feature;
  /** Why, in a few words: what uses it. */
  usedBy: string;
  /**
   * The package is not needed when every one of these is set to 1. Empty: always needed.
   */
  skippedBy: readonly SkipVariable[];
}

export const SYSTEM_PACKAGES: readonly SystemPackage[] = [
  {
    package: 'haproxy',
    command: 'haproxy',
    feature: 'mesh',
    usedBy: 'the mesh data plane, one per host (src/mesh/host, test/mesh)',
    skippedBy: [],
  },
  {
    package: 'runc',
    command: 'runc',
    feature: 'containers',
    usedBy: 'the other OCI runtime (--oci-runtime runc; test/oci/oci-contract, oci-runtime)',
    skippedBy: ['DABBA_SKIP_OCI'],
  },
  {
    package: 'crun',
    command: 'crun',
    feature: 'containers',
    usedBy:
      'the default OCI runtime where installed (test/oci/oci-contract-crun, test/e2e/oci-dev, image-distribution)',
    skippedBy: ['DABBA_SKIP_OCI'],
  },
  {
    package: 'conmon',
    command: 'conmon',
    feature: 'containers',
    usedBy: "each container's monitor (keeps it and its logs past an agent restart)",
    skippedBy: ['DABBA_SKIP_OCI'],
  },
  {
    package: 'catatonit',
    command: 'catatonit',
    feature: 'containers',
    usedBy: "the containers' init (PID 1 that forwards signals and reaps zombies)",
    skippedBy: ['DABBA_SKIP_OCI'],
  },
  {
    package: 'golang-github-containers-common',
    command: '/usr/share/containers/seccomp.json',
    file: true,
    feature: 'containers',
    usedBy: "containers' seccomp profile: Podman's, from the distribution (the built-in one otherwise)",
    skippedBy: ['DABBA_SKIP_OCI'],
  },
  {
    package: 'mount',
    command: 'mount',
    feature: 'containers',
    usedBy: "containers' overlay root filesystems (mount, umount); not in a minimal (apt-only) Debian",
    skippedBy: ['DABBA_SKIP_OCI'],
  },
  {
    package: 'btrfs-progs',
    command: 'btrfs',
    feature: 'containers',
    usedBy:
      "tasks' root filesystems as btrfs snapshots where the image store is on btrfs (src/image/btrfs-snapshots, test/oci/btrfs-snapshots), and volumes as btrfs subvolumes with qgroup limits (agent/volumes.ts, test/agent/volumes-btrfs)",
    skippedBy: [],
  },
  {
    package: 'e2fsprogs',
    command: 'mkfs.ext4',
    feature: 'containers',
    usedBy:
      'the emergency read-only test: an ext4 file system on a loop device whose errors make the kernel refuse writes (test/faults/emergency-read-only)',
    skippedBy: [],
  },
  {
    package: 'busybox-static',
    command: 'busybox',
    override: 'DABBA_BUSYBOX',
    static: true,
    feature: 'images',
    usedBy: 'the busybox and hello images (src/image tests, oci tests, dabba dev)',
    skippedBy: [],
  },
  {
    package: 'iproute2',
    command: 'ip',
    feature: 'task-network',
    usedBy: 'task networks (oci) and the testbed (test/fleet)',
    skippedBy: ['DABBA_SKIP_OCI', 'DABBA_SKIP_NETNS'],
  },
  {
    package: 'nftables',
    command: 'nft',
    feature: 'isolation',
    usedBy: "the task network's isolation rules between jobs (oci)",
    skippedBy: ['DABBA_SKIP_OCI'],
  },
  {
    package: 'bsdutils',
    command: 'script',
    feature: 'exec-terminal',
    usedBy: 'util-linux script: the pty of `dabba exec -t` (src/runtime/pty.ts, test/e2e/exec-interactive)',
    skippedBy: [],
  },
  {
    package: 'etcd-server',
    command: 'etcd',
    override: 'ETCD_BIN',
    feature: 'etcd-store',
    usedBy: 'a real etcd cluster for the etcd store and HA tests (src/store/etcd, test/ha)',
    skippedBy: ['DABBA_SKIP_ETCD'],
  },
  {
    package: 'etcd-client',
    command: 'etcdctl',
    feature: 'etcd-store',
    usedBy:
      "etcd's operator procedure after a NOSPACE alarm (compact, defrag, alarm disarm) in test/faults/etcd-nospace",
    skippedBy: ['DABBA_SKIP_ETCD'],
  },
  {
    package: 'prometheus',
    command: 'prometheus',
    feature: 'prometheus',
    usedBy: 'test/telemetry/prometheus.test.ts (scrapes /metrics and /federate); promtool in bench/tsdb.ts',
    skippedBy: [],
  },
  {
    package: 'chromium',
    command: 'chromium',
    feature: 'web-ui-tests',
    usedBy: 'a real headless browser driven by playwright-core for the web UI tests (test/ui)',
    skippedBy: [],
  },
];

/**
 * DABBA_EXTRA_SYSTEM_PACKAGES=pkg[:command],... : packages added to the list for one run (to try one
 * before adding it here). The command defaults to the package name.
 */
export function extraPackages(value: string | undefined): SystemPackage[] {
  if (value === undefined || value.trim() === '') return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const [pkg = s, command = pkg, ...rest] = s.split(':');
      if (rest.length > 0 || !PACKAGE_NAME.test(pkg) || !COMMAND.test(command)) {
        throw new Error(
          `DABBA_EXTRA_SYSTEM_PACKAGES: "${s}" is not PACKAGE or PACKAGE:COMMAND (for example sl:/usr/games/sl)`,
        );
      }
      return {
        package: pkg,
        command,
        feature: 'extra',
        usedBy: 'DABBA_EXTRA_SYSTEM_PACKAGES',
        skippedBy: [],
      };
    });
}

/** Debian policy: lower case letters, digits, + - . ; at least two characters. */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
/** A command name, or an absolute path. */
const COMMAND = /^(\/[A-Za-z0-9._+/-]+|[A-Za-z0-9._+-]+)$/;
