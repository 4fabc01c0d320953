/** Whether real containers can run here, and if not, why (so `dabba dev` can choose and say). */
import { readFile } from 'node:fs/promises';
import { findExecutable, runTool } from './tool.ts';

export interface OciDetection {
  ok: boolean;
  reason: string;
  runtime?: 'runc' | 'crun';
}

export async function detectOci(options: { ociRuntime?: 'runc' | 'crun' } = {}): Promise<OciDetection> {
  if (process.platform !== 'linux')
    return { ok: false, reason: `containers need Linux (this is ${process.platform})` };
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) return { ok: false, reason: `containers need root (running as uid ${uid})` };
  const order: ('runc' | 'crun')[] = options.ociRuntime ? [options.ociRuntime] : ['crun', 'runc'];
  let runtime: 'runc' | 'crun' | undefined;
  let runtimePath: string | undefined;
  for (const r of order) {
    runtimePath = await findExecutable(r);
    if (runtimePath) {
      runtime = r;
      break;
    }
  }
  if (!runtime || !runtimePath)
    return { ok: false, reason: `no OCI runtime found (${order.join(' or ')} not on PATH)` };
  const conmon = await findExecutable('conmon');
  if (!conmon) return { ok: false, reason: 'conmon not found on PATH', runtime };
  if (!(await findExecutable('ip'))) return { ok: false, reason: 'ip (iproute2) not found on PATH', runtime };
  const filesystems = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  if (!/\toverlay$/m.test(filesystems)) return { ok: false, reason: 'the kernel has no overlayfs', runtime };
  const mounts = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const v2 = / - cgroup2 /.test(mounts) && / \/sys\/fs\/cgroup rw?[^ ]* .* - cgroup2 /.test(mounts);
  const v1 = / - cgroup /.test(mounts);
  if (!v1 && !/ - cgroup2 /.test(mounts))
    return { ok: false, reason: 'no cgroup filesystem mounted', runtime };
  const version = (await runTool(runtimePath, ['--version'])).stdout.split('\n')[0]?.trim() ?? runtime;
  return {
    ok: true,
    reason: `${version}, conmon, overlayfs, cgroup ${v2 ? 'v2' : 'v1'}`,
    runtime,
  };
}
