/**
 * `dabba dev` whose data dir is a small tmpfs (the resource-fault tests fill it), and its teardown:
 * the process and whatever it left running are killed, then the tmpfs and the cluster's files go,
 * even when the test failed half-way.
 */
import { DevCluster } from './dev-cluster.ts';
import { Tmpfs } from './tmpfs.ts';

/** What `GET /v1/health` answers. */
export interface Health {
  status: string;
  reasons: string[];
}

export async function startDevOnTmpfs(size: string, args: string[]): Promise<{ c: DevCluster; fs: Tmpfs }> {
  let fs: Tmpfs | undefined;
  const c = await DevCluster.start({
    args,
    prepare: async (dir) => {
      fs = await Tmpfs.mount(size, dir);
    },
  });
  if (fs === undefined) throw new Error('dabba dev started without its tmpfs');
  return { c, fs };
}

export async function stopDevOnTmpfs(c: DevCluster | undefined, fs: Tmpfs | undefined): Promise<void> {
  await c?.kill9();
  for (const pid of (await c?.processes()) ?? []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await fs?.destroy();
  await c?.destroy();
}
