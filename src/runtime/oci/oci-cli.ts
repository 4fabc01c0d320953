/** The OCI runtime's command line (runc and crun share it): start, kill, delete, state, list. */
import type { ToolRunner } from './fork-helper.ts';
import { runTool, type ToolResult } from './tool.ts';

export interface ContainerState {
  id: string;
  pid: number;
  /** creating, created, running, stopped or paused */
  status: string;
  bundle: string;
}

export class OciCli {
  readonly path: string;
  readonly root: string;
  readonly name: 'runc' | 'crun';
  private readonly runner: ToolRunner;

  /** `runner` runs the commands (default: spawned from this process). */
  constructor(name: 'runc' | 'crun', path: string, root: string, runner: ToolRunner = runTool) {
    this.name = name;
    this.path = path;
    this.root = root;
    this.runner = runner;
  }

  /** Global arguments for every invocation (also handed to conmon). */
  get globalArgs(): string[] {
    return ['--root', this.root];
  }

  run(args: string[], timeoutMs = 60_000): Promise<ToolResult> {
    return this.runner(this.path, [...this.globalArgs, ...args], { timeoutMs });
  }

  start(id: string): Promise<ToolResult> {
    return this.run(['start', id]);
  }

  /** Sends a signal to the container's init (all its processes with `all`). */
  kill(id: string, signal: string, all = false): Promise<ToolResult> {
    return this.run(['kill', ...(all ? ['--all'] : []), id, signal]);
  }

  delete(id: string, force = true): Promise<ToolResult> {
    return this.run(['delete', ...(force ? ['--force'] : []), id]);
  }

  async state(id: string): Promise<ContainerState | undefined> {
    const r = await this.run(['state', id]);
    if (r.code !== 0) return undefined;
    try {
      return JSON.parse(r.stdout) as ContainerState;
    } catch {
      return undefined;
    }
  }

  async list(): Promise<ContainerState[]> {
    const r = await this.run(['list', '--format', 'json']);
    if (r.code !== 0) return [];
    try {
      return (JSON.parse(r.stdout || '[]') as ContainerState[] | null) ?? [];
    } catch {
      return [];
    }
  }
}
