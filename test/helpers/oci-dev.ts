/**
 * What the container end-to-end tests share: whether containers can run here (a missing part is a
 * failure, unless DABBA_SKIP_OCI=1 asks to skip), a task network of the test's own, and a `dabba dev`
 * with containers on it that is taken down completely afterwards (every container re-adopted,
 * stopped and removed, so no overlay, cgroup or netns is left, then the bridge address).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageStore } from '../../src/image/index.ts';
import { OciRuntime, detectOci, type OciDetection } from '../../src/runtime/oci/index.ts';
import { runTool } from '../../src/runtime/oci/tool.ts';
import { DevCluster, isAlive } from './dev-cluster.ts';

/** This machine's containers, checked once: `skip` is the reason to skip (DABBA_SKIP_OCI=1), or false. */
export async function ociForTests(): Promise<{ detected: OciDetection; skip: string | false }> {
  const detected = await detectOci();
  const skip = !detected.ok && process.env['DABBA_SKIP_OCI'] === '1';
  if (!detected.ok && !skip) {
    throw new Error(
      `containers are needed for this test: ${detected.reason} (run as root with crun or runc and conmon installed; DABBA_SKIP_OCI=1 skips)`,
    );
  }
  return { detected, skip: skip ? detected.reason : false };
}

/** Where test processes claim their task networks (one directory per /16, holding the claimer's pid). */
const CLAIMS = '/tmp/dabba-test-networks';

/** Claims 10.A.0.0/16 for this process; false if another live test process holds it. */
async function claim(a: number): Promise<boolean> {
  await mkdir(CLAIMS, { recursive: true });
  const dir = join(CLAIMS, String(a));
  try {
    await mkdir(dir);
  } catch {
    const pid = Number(await readFile(join(dir, 'pid'), 'utf8').catch(() => '0'));
    if (pid > 0 && isAlive(pid)) return false;
    // The claimer is gone without releasing (or is writing its pid this instant: wait for it).
    await new Promise((r) => setTimeout(r, 200));
    const again = Number(await readFile(join(dir, 'pid'), 'utf8').catch(() => '0'));
    if (again > 0 && isAlive(again)) return false;
  }
  await writeFile(join(dir, 'pid'), String(process.pid));
  return true;
}

/**
 * A /16 task network of this test's own (10.150-199.0.0), so parallel clusters never share
 * addresses: not routed here, and claimed against the other test processes choosing at once.
 */
export async function freeTaskNetwork(): Promise<string> {
  const routes = (await runTool('ip', ['-j', 'route', 'show'])).stdout;
  for (let i = 0; i < 100; i++) {
    const a = 150 + Math.floor(Math.random() * 50);
    if (!routes.includes(`"10.${a}.`) && (await claim(a))) return `10.${a}.0.0/16`;
  }
  throw new Error('no free task network found');
}

/** Gives a network from freeTaskNetwork back. */
async function releaseTaskNetwork(network: string): Promise<void> {
  const a = /^10\.(\d+)\./.exec(network)?.[1];
  if (a !== undefined) await rm(join(CLAIMS, a), { recursive: true, force: true });
}

/** `dabba dev` with containers on a task network of its own. */
export async function startOciDev(args: string[] = []): Promise<{ c: DevCluster; network: string }> {
  const network = await freeTaskNetwork();
  const c = await DevCluster.start({ driver: 'oci', args: ['--task-network', network, ...args] });
  return { c, network };
}

/**
 * Takes a `dabba dev` with containers down for good: the process killed, whatever containers it
 * left re-adopted, stopped and removed, its data dir deleted, its range's gateway off the bridge.
 */
export async function destroyOciDev(c: DevCluster, network: string): Promise<void> {
  await c.kill9();
  const stateDir = join(c.dataDir, 'agent', 'runtime', 'oci');
  const rt = new OciRuntime({ stateDir, images: await ImageStore.open(join(c.dataDir, 'images')) });
  const { running, exited } = await rt.recover();
  for (const h of running) await rt.stop(h.taskId, 0);
  for (const id of [...running.map((h) => h.taskId), ...exited.map((e) => e.taskId)]) await rt.remove(id);
  await rt.close();
  await c.destroy();
  // The host's range was the first /24 of the network: its gateway address goes off the bridge.
  await runTool('ip', ['addr', 'del', `${network.replace(/\.0\.0\/16$/, '.0.1')}/24`, 'dev', 'dabba0']).catch(
    () => undefined,
  );
  await releaseTaskNetwork(network);
}
