/**
 * Fixtures for the oci runtime tests: a private state directory, an image store with the builtin
 * busybox and hello images, and a bridge + /24 subnet of its own (so test files running in
 * parallel never share addresses). Cleanup re-adopts whatever is left, removes it, deletes the
 * bridge, and checks that nothing of the fixture remains (containers, mounts, namespaces, veths,
 * cgroups) before deleting the directory.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ImageStore, createBuiltinImage, mountPoints } from '../../src/image/index.ts';
import { shortId, silentLogger } from '../../src/lib/index.ts';
import type { TaskSpec } from '../../src/model/index.ts';
import {
  detectOci,
  listLinks,
  listNetns,
  OciRuntime,
  type OciRuntimeOptions,
} from '../../src/runtime/oci/index.ts';
import type { RuntimeFixture } from '../../src/runtime/contract.ts';
import { runTool } from '../../src/runtime/oci/tool.ts';

export const MiB = 1024 * 1024;

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the oci tests can run. They need root, runc and conmon; without them they fail with the
 * reason, unless DABBA_SKIP_OCI=1 asks to skip (then every test says why it was skipped).
 */
export async function ociAvailable(
  runtime: 'runc' | 'crun' = 'runc',
): Promise<{ run: boolean; reason: string }> {
  const d = await detectOci({ ociRuntime: runtime });
  if (d.ok) return { run: true, reason: d.reason };
  if (process.env['DABBA_SKIP_OCI'] === '1')
    return { run: false, reason: `skipped (DABBA_SKIP_OCI=1): ${d.reason}` };
  return { run: false, reason: d.reason };
}

/** Registers one failing test explaining why the oci tests cannot run (or a skipped one with DABBA_SKIP_OCI=1). */
export function reportUnavailable(reason: string): void {
  if (process.env['DABBA_SKIP_OCI'] === '1') {
    test(`oci tests: ${reason}`, { skip: reason }, () => undefined);
    return;
  }
  test('oci tests can run here', () => {
    assert.fail(
      `the oci runtime tests need root, runc and conmon: ${reason} (set DABBA_SKIP_OCI=1 to skip them)`,
    );
  });
}

async function subnetInUse(prefix: string): Promise<boolean> {
  const r = await runTool('ip', ['-j', 'route', 'show']);
  return r.stdout.includes(`"${prefix}.`);
}

/** A /24 in 10.200-249.x.0 nobody routes yet, and a bridge name for it. */
export async function freeNetwork(): Promise<{ bridge: string; subnet: string }> {
  for (let i = 0; i < 50; i++) {
    const a = 200 + Math.floor(Math.random() * 50);
    const b = Math.floor(Math.random() * 256);
    if (await subnetInUse(`10.${a}.${b}`)) continue;
    return { bridge: `dbt${shortId(8)}`, subnet: `10.${a}.${b}.0/24` };
  }
  throw new Error('no free test subnet found');
}

export interface OciFixture extends RuntimeFixture {
  dir: string;
  stateDir: string;
  images: ImageStore;
  bridge: string;
  subnet: string;
  runtime: OciRuntime;
  make(): OciRuntime;
  /** What is left on the host of these tasks (should be empty after removal). */
  leftovers(taskIds: string[]): Promise<string[]>;
}

/** A shared image store per test file: building busybox/hello takes a moment. */
let sharedImages: Promise<{ dir: string; store: ImageStore }> | undefined;
export function testImages(): Promise<{ dir: string; store: ImageStore }> {
  sharedImages ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dabba-oci-images-'));
    const store = await ImageStore.open(dir);
    await createBuiltinImage(store, 'busybox');
    await createBuiltinImage(store, 'hello');
    return { dir, store };
  })();
  return sharedImages;
}

/** Deletes the shared image store (call once, after every fixture is cleaned up). */
export async function removeTestImages(): Promise<void> {
  if (!sharedImages) return;
  const { dir } = await sharedImages;
  sharedImages = undefined;
  await removeDir(dir);
}

/** rm -rf that refuses to run over a live mount (it would delete through it). */
export async function removeDir(dir: string): Promise<void> {
  const inside = (await mountPoints()).filter((m) => m === dir || m.startsWith(`${dir}/`));
  for (const m of inside.reverse()) await runTool('umount', ['-l', m]);
  const still = (await mountPoints()).filter((m) => m === dir || m.startsWith(`${dir}/`));
  if (still.length > 0) throw new Error(`not deleting ${dir}: still mounted: ${still.join(', ')}`);
  await rm(dir, { recursive: true, force: true });
}

export async function ociFixture(options: Partial<OciRuntimeOptions> = {}): Promise<OciFixture> {
  const { store } = await testImages();
  const dir = await mkdtemp(join(tmpdir(), 'dabba-oci-'));
  const stateDir = join(dir, 'state');
  const net = await freeNetwork();
  const runtimes: OciRuntime[] = [];
  const make = (): OciRuntime => {
    const rt = new OciRuntime({
      stateDir,
      images: store,
      network: net,
      logger: silentLogger,
      ociRuntime: 'runc',
      ...options,
    });
    runtimes.push(rt);
    return rt;
  };
  const runtime = make();
  const leftovers = async (taskIds: string[]): Promise<string[]> => {
    const out: string[] = [];
    const probe = make();
    for (const c of await probe.containers()) out.push(`container ${c.id} (${c.status})`);
    await probe.close();
    for (const m of await mountPoints()) if (m.startsWith(`${dir}/`)) out.push(`mount ${m}`);
    const links = await listLinks();
    const netns = await listNetns();
    for (const id of taskIds) {
      // The runtime derives host-global names from the state dir and the task id.
      const key = createHash('sha256').update(`${stateDir}\0${id}`).digest('hex').slice(0, 10);
      const leaf = `${id}-${key.slice(0, 6)}`;
      if (links.includes(`dbv${key}`)) out.push(`veth dbv${key} of ${id}`);
      if (netns.includes(`dabba-${key}`)) out.push(`netns dabba-${key} of ${id}`);
      for (const hierarchy of await readdir('/sys/fs/cgroup')) {
        if (await exists(join('/sys/fs/cgroup', hierarchy, 'dabba', leaf)))
          out.push(`cgroup ${hierarchy}/dabba/${leaf}`);
      }
      if (await exists(join(stateDir, 'tasks', id))) out.push(`task dir of ${id}`);
      if (await exists(join(stateDir, 'exits', id))) out.push(`exit file of ${id}`);
    }
    for (const pid of await readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(pid)) continue;
      const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
      if (cmd[0]?.endsWith('conmon') && cmd.includes(join(stateDir, 'exits'))) {
        const id = cmd[cmd.indexOf('-c') + 1] ?? '?';
        if (taskIds.includes(id)) out.push(`conmon ${pid} of ${id}`);
      }
    }
    return out;
  };
  return {
    dir,
    stateDir,
    images: store,
    bridge: net.bridge,
    subnet: net.subnet,
    runtime,
    image: 'busybox',
    shell: ['sh', '-c'],
    make,
    reopen: () => Promise.resolve(make()),
    leftovers,
    cleanup: async () => {
      for (const rt of runtimes) await rt.close();
      const sweeper = make();
      const { running, exited } = await sweeper.recover();
      for (const { taskId } of [...running, ...exited]) {
        await sweeper.stop(taskId, 0);
        await sweeper.remove(taskId);
      }
      await (await sweeper.network()).destroyBridge();
      await sweeper.close();
      await removeDir(dir);
    },
  };
}

export function busyboxSpec(command: string[], o: Partial<TaskSpec> = {}): TaskSpec {
  return {
    image: 'busybox',
    command,
    env: {},
    resources: { cpu: 0, memoryBytes: 0, pids: 0 },
    ports: [],
    health: {},
    restart: { policy: 'never', initialBackoffMs: 100, maxBackoffMs: 1000 },
    stopGracePeriodMs: 1000,
    ...o,
  };
}

export function taskId(prefix = 'ot'): string {
  return `${prefix}-${shortId(8)}`;
}
