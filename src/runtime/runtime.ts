/**
 * The Runtime: how an agent runs a task's main process on its host. Implementations: process/
 * (plain child processes, unprivileged) and oci/ (runc or crun under conmon). One contract suite
 * (contract.ts) runs against every implementation.
 *
 * Tasks outlive the agent: a runtime keeps what it needs on disk under its state directory, and
 * `recover()` re-adopts tasks still running after an agent restart.
 */
import type { LogDrop, TaskSpec, TaskUsage } from '../model/index.ts';

export interface TaskLaunch {
  taskId: string;
  job: string;
  version: number;
  spec: TaskSpec;
  /** Extra environment set by the agent (DABBA_TASK_ID, ...), merged over spec.env. */
  env: Record<string, string>;
  /**
   * Host directories a container sees read-only at `destination` (the task's config directories,
   * docs/config.md). A directory, not a file: a file replaced by a rename on the host is seen inside
   * only through a mount of its directory. Ignored by runtimes without a filesystem of their own.
   * `readWrite`: the task's volumes (docs/volumes.md), which it writes.
   */
  binds?: { source: string; destination: string; readWrite?: true }[];
}

/** A running task as the runtime knows it. */
export interface TaskHandle {
  taskId: string;
  /** Host pid of the task's main process. */
  pid: number;
  /** Address the task is reachable at from the host. */
  address: string;
  /** Declared port name -> port reachable at `address`. */
  ports: Record<string, number>;
  startedAt: number;
}

export interface ExitStatus {
  /** Exit code; 128+N when killed by signal N (137 for SIGKILL / OOM). Null when unknown
   * (e.g. a task adopted after an agent restart that exited while nobody was its parent). */
  exitCode: number | null;
  signal: string | null;
  oomKilled: boolean;
  /** Exited | OOMKilled | Killed | Unknown */
  reason: string;
  finishedAt: number;
}

export interface ExecResult {
  exitCode: number;
  output: string;
  timedOut: boolean;
}

export type LogStream = 'stdout' | 'stderr';

/** One piece of a streamed exec's output. */
export interface ExecChunk {
  stream: LogStream;
  data: Uint8Array;
}

/**
 * A command running in a task's environment (`dabba exec`): its output as it comes, then its exit
 * code. Without `stdin` in the options its stdin is empty (/dev/null); without `tty` it has no
 * terminal.
 */
export interface ExecSession {
  /** stdout and stderr pieces in the order they were read; ends when the command's output ends. */
  output: AsyncIterable<ExecChunk>;
  /** The exit code; 128+N when killed by signal N. */
  exit: Promise<number>;
  /**
   * The command's input (with `stdin` or `tty` in the options): `write` resolves once the bytes are
   * taken (or the command is gone), `end` is end of input (with a terminal: Ctrl-D on it).
   */
  input?: { write(data: Uint8Array): Promise<void>; end(): void };
  /** With `tty`: sets the terminal's size (the command gets SIGWINCH). */
  resize?(cols: number, rows: number): void;
}

export interface ExecStreamOptions {
  /** Kills the command (and what it started) when aborted; `exit` then resolves with 137. */
  signal?: AbortSignal;
  /** The caller writes the command's stdin (ExecSession.input). */
  stdin?: boolean;
  /**
   * The command gets a terminal (a pty) of this size, as its stdin, stdout and stderr: its output
   * all comes as stdout, and what is written to `input` is typed on that terminal.
   */
  tty?: { cols: number; rows: number };
}

export interface LogLine {
  stream: LogStream;
  /** Milliseconds since the epoch when known (oci/conmon logs carry timestamps). */
  time?: number;
  text: string;
}

export interface LogReadOptions {
  /** Last N lines only. */
  tail?: number;
  /** Keep reading as the task writes; ends when the signal aborts. */
  follow?: boolean;
  signal?: AbortSignal;
  /**
   * The log of the run before (kept by a `remove` with `restarting`; at most the last MiB), not the
   * current one; fails with reason NotFound when there is none. Never followed (it is complete).
   */
  previous?: boolean;
}

export interface RemoveOptions {
  /**
   * The task is restarted in place: it will be started again under the same id on this host. The
   * runtime keeps what belongs to the task rather than to one run of it: its address (oci: the task
   * keeps its IP across restarts, as a pod does) and the log of the run that ended, until a remove
   * without this option.
   */
  restarting?: boolean;
}

export interface Runtime {
  /** "process" or "oci". */
  readonly name: string;
  /**
   * Starts the task's main process. Rejects with a RuntimeError whose details.reason says why
   * (ImageNotFound, CommandNotFound, StartFailed, ...) if it cannot start; leaves nothing behind then.
   */
  start(launch: TaskLaunch): Promise<TaskHandle>;
  /** Resolves once the task's main process has exited (also for recovered tasks). */
  wait(taskId: string): Promise<ExitStatus>;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. Idempotent. */
  stop(taskId: string, graceMs: number): Promise<void>;
  /** Removes every trace of a stopped task: state, logs, cgroups, mounts. Idempotent. See RemoveOptions. */
  remove(taskId: string, options?: RemoveOptions): Promise<void>;
  /** Tasks found running from a previous agent, re-adopted; tasks found dead are reported too. */
  recover(): Promise<{ running: TaskHandle[]; exited: { taskId: string; status: ExitStatus }[] }>;
  /** Runs a command in the task's environment (for exec probes). */
  exec(taskId: string, command: string[], timeoutMs: number): Promise<ExecResult>;
  /**
   * Runs a command in the task's environment as `dabba exec` does, streaming its output: for oci in
   * the container's namespaces and cgroup (`runc exec`), for process with the task's environment and
   * working directory. Rejects with a RuntimeError (details.reason NotRunning, NotFound) if the task
   * does not run; a command that cannot be started answers exit 126/127 with why on stderr.
   */
  execStream(taskId: string, command: string[], options?: ExecStreamOptions): Promise<ExecSession>;
  /** Current usage of a running task, if the runtime can measure it. */
  stats(taskId: string): Promise<TaskUsage | undefined>;
  /** Reads the task's captured output, oldest first. */
  logs(taskId: string, options?: LogReadOptions): AsyncIterable<LogLine>;
  /**
   * Optional, for runtimes that write tasks' logs themselves and count what they could not write
   * (process: its log writer): the latest windows of dropped output, of the current run or (with
   * `previous`) of the one kept by a restart in place. Empty when nothing was dropped.
   */
  logDrops?(taskId: string, options?: { previous?: boolean }): Promise<LogDrop[]>;
  /**
   * Optional self-check (the agent's RuntimeBroken condition): undefined when the runtime works, else
   * what is wrong, in words.
   */
  healthCheck?(): Promise<string | undefined>;
  /**
   * Optional (remediation's `restart-runtime`): sets the runtime up on the host again (oci: cgroup
   * mounts, the bridge and its nftables rules, the binaries) and re-adopts the running tasks as they
   * are, never stopping them. Resolves with what was done, in words; rejects with why it failed.
   */
  restart?(): Promise<string>;
  /** Releases runtime resources; running tasks keep running. */
  close(): Promise<void>;
  /**
   * Optional, for runtimes that give tasks addresses of their own (oci): the host's range of the
   * task network from the control plane (`subnet`, CIDR such as "10.88.3.0/24") and the whole
   * network it is cut from (`taskNetwork`, e.g. "10.88.0.0/16"). The agent asks the server for
   * the range when it registers and calls this before recover() or any start(). Throws on a
   * malformed range. Runtimes without task networking (process), and one configured with a subnet
   * of its own (`dabba agent --subnet`, which wins), leave it out: the agent then asks for no range.
   */
  useNetwork?(subnet: string, taskNetwork?: string): void;
  /**
   * Optional: the seccomp profile tasks run under, in a few words (oci: "distribution
   * /usr/share/containers/seccomp.json" or "built-in"), reported with the host (`dabba hosts`).
   */
  readonly seccomp?: string;
}
