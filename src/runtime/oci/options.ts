/** How an OciRuntime is set up. */
import type { ImageStore } from '../../image/index.ts';
import type { Logger } from '../../lib/index.ts';

export interface OciRuntimeOptions {
  /** Where bundles, logs, exit files and allocations live (survives agent restarts). */
  stateDir: string;
  images: ImageStore;
  /** Which OCI runtime to use; default crun if installed (it starts containers faster), else runc. */
  ociRuntime?: 'runc' | 'crun';
  /**
   * The agent's bridge and private subnet; default dabba0 and the host's range of the task network
   * from the control plane (useNetwork), else 10.88.0.0/16. A subnet given here wins over the
   * control plane's.
   */
  network?: {
    bridge?: string;
    subnet?: string;
    /**
     * The mesh proxy's listener ports on the gateway: tasks reach these ports of their host and
     * nothing else of it (the bridge's firewall). Absent: tasks reach their host as any client.
     */
    proxyPorts?: { from: number; to: number };
  };
  /** Parent cgroup of all tasks (absolute); default /dabba. */
  cgroupParent?: string;
  /** runc/crun state directory (--root); default STATE/runtime. */
  runtimeRoot?: string;
  /**
   * Starts run at once at most (more wait their turn, in order); default unlimited. A start is
   * mostly CPU (runc, conmon, ip, mount): in a burst, a limit of a few per core brings the first
   * tasks up much sooner, but on a machine shared with other work it made the last one later
   * (see docs/benchmarks.md).
   */
  maxConcurrentStarts?: number;
  /** Rotate a task's log at this many bytes (conmon --log-size-max); default unlimited. */
  logSizeMax?: number;
  /**
   * The distribution's seccomp profile to use when it exists and can be used (default
   * /usr/share/containers/seccomp.json, Podman's); else the built-in one (seccomp-distribution.ts).
   */
  seccompProfilePath?: string;
  logger?: Logger;
}
