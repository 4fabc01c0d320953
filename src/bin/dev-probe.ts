/**
 * What `dabba dev` would use on this machine, for `dabba doctor`: the same runtime detection
 * `dabba dev` runs (detectOci, runc before crun), the cgroup layout, the task bridge and the proxy.
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { DevProbe } from '../cli/index.ts';
import { findCommand } from '../lib/index.ts';
import { detectCgroups, detectOci } from '../runtime/oci/index.ts';

const run = promisify(execFile);
/** The bridge `dabba dev`'s agent puts containers on (the oci runtime's default). */
const DEV_BRIDGE = 'dabba0';

async function cgroupLayout(): Promise<DevProbe['cgroups']> {
  const layout = await detectCgroups().catch(() => undefined);
  if (layout === undefined || (layout.v1.size === 0 && layout.unified === undefined)) return 'none';
  if (layout.version === 2) return 'v2';
  return layout.unified === undefined ? 'v1' : 'hybrid';
}

async function bridge(): Promise<DevProbe['bridge']> {
  const present = await access(`/sys/class/net/${DEV_BRIDGE}`).then(
    () => true,
    () => false,
  );
  if (!present) return { name: DEV_BRIDGE, present, addresses: [] };
  const ip = await findCommand('ip');
  const addresses: string[] = [];
  if (ip !== undefined) {
    try {
      const { stdout } = await run(ip, ['-j', 'addr', 'show', 'dev', DEV_BRIDGE]);
      const links = JSON.parse(stdout) as { addr_info?: { local?: string; prefixlen?: number }[] }[];
      for (const a of links[0]?.addr_info ?? []) {
        if (a.local !== undefined) addresses.push(`${a.local}/${a.prefixlen ?? 32}`);
      }
    } catch {
      // the bridge vanished meanwhile, or ip failed: present without addresses
    }
  }
  return { name: DEV_BRIDGE, present, addresses };
}

async function proxy(): Promise<DevProbe['proxy']> {
  const path = await findCommand('haproxy');
  if (path === undefined) return { name: 'haproxy' };
  const version = await run(path, ['-v']).then(
    (r) => /version (\S+)/i.exec(r.stdout)?.[1],
    () => undefined,
  );
  return { name: 'haproxy', path, ...(version === undefined ? {} : { version }) };
}

export async function probeDev(): Promise<DevProbe> {
  const [oci, cgroups, br, px] = await Promise.all([detectOci(), cgroupLayout(), bridge(), proxy()]);
  const runtime: DevProbe['runtime'] =
    oci.ok && oci.runtime !== undefined
      ? { name: 'oci', ociRuntime: oci.runtime, reason: oci.reason }
      : { name: 'process', reason: oci.reason };
  return { runtime, cgroups, bridge: br, proxy: px };
}
