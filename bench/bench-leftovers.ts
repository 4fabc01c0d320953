/**
 * Clean-up shared by the container benchmarks: the `dabba-bench` cgroup their raw runc baselines
 * use in every hierarchy, and their work directory (kept, with a message, if something is still
 * mounted under it).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mountPoints } from '../src/image/index.ts';
import { runTool } from '../src/runtime/oci/tool.ts';

const HIERARCHIES = [
  'memory',
  'cpu',
  'cpuacct',
  'pids',
  'blkio',
  'cpuset',
  'devices',
  'freezer',
  'hugetlb',
  'systemd',
  'unified',
  '',
];

export async function removeBenchLeftovers(dir: string): Promise<void> {
  for (const hierarchy of HIERARCHIES) {
    await runTool('rmdir', [join('/sys/fs/cgroup', hierarchy, 'dabba-bench')]);
  }
  const left = (await mountPoints()).filter((m) => m.startsWith(`${dir}/`));
  if (left.length === 0) await rm(dir, { recursive: true, force: true });
  else console.error(`left mounted (not deleting ${dir}): ${left.join(', ')}`);
}
