/** What the steps of a task's life (start-task.ts, teardown.ts, recover.ts) get from the runtime. */
import type { ImageStore } from '../../image/index.ts';
import type { ContainerLogs } from './container-logs.ts';
import type { Logger } from '../../lib/index.ts';
import type { ForkHelper } from './fork-helper.ts';
import type { OciPaths } from './paths.ts';
import type { SeccompProfile } from './seccomp.ts';
import type { PrecompiledSeccomp } from './seccomp-bpf.ts';
import type { Ready } from './setup.ts';
import type { LookupCache } from './support.ts';

export interface TaskContext {
  ready: Ready;
  paths: OciPaths;
  images: ImageStore;
  /** Runs the host tools (helper.run) and conmon without forking the agent. */
  helper: ForkHelper;
  logger: Logger;
  /** Parent cgroup of all tasks (absolute). */
  cgroupParent: string;
  seccomp: SeccompProfile;
  /** The profile compiled to BPF, for crun (see seccomp-bpf.ts). */
  seccompBpf: PrecompiledSeccomp;
  /** Command and user look-ups by image digest (a fresh rootfs is exactly the image). */
  lookups: LookupCache;
  logSizeMax: number | undefined;
  /** The containers' output through the log writer (counted drops). */
  containerLogs: ContainerLogs;
}
