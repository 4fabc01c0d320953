/**
 * Images across server replicas on a real etcd: three `dabba server` processes, an image created
 * through replica A (`dabba image create`), copied by B and C from A as soon as its record appears;
 * A is killed; an agent (oci, real containers) that knows only B runs a job of that image, pulled
 * from B; `dabba image rm` through C, once the job is stopped, removes it from B's store too.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import { ImageStore, buildBusyboxRootfs } from '../../src/image/index.ts';
import type { JobView } from '../../src/model/index.ts';
import { OciRuntime } from '../../src/runtime/oci/index.ts';
import { etcdSkip, startEtcdCluster } from '../helpers/etcd-cluster.ts';
import { TEST_ADMIN_TOKEN } from '../helpers/auth.ts';
import { REPO, cli } from '../helpers/dev-cluster.ts';
import { ociForTests } from '../helpers/oci-dev.ts';
import { freeNetwork } from '../oci/oci-fixture.ts';
import { waitFor } from './helpers.ts';
import { ServerProcs } from './server-procs.ts';

const DABBA = join(REPO, 'src', 'bin', 'dabba.ts');
const { skip: ociSkip } = await ociForTests();

/** The names in a replica's own image store (its data dir's refs.json). */
async function namesIn(dataDir: string): Promise<string[]> {
  const text = await readFile(join(dataDir, 'images', 'refs.json'), 'utf8').catch(() => '{}');
  return Object.keys((JSON.parse(text) as { images?: Record<string, unknown> }).images ?? {});
}

async function blobCount(dataDir: string): Promise<number> {
  return (await readdir(join(dataDir, 'images', 'blobs', 'sha256')).catch(() => [] as string[])).length;
}

function startAgent(args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [DABBA, 'agent', ...args], {
      env: { ...process.env, DABBA_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the agent did not start: ${log}`));
    }, 60_000);
    proc.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
      if (/endpoint at https?:\/\/\S+/.test(log)) {
        clearTimeout(timer);
        resolve(proc);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the agent exited ${code}: ${log}`));
    });
  });
}

test(
  'an image pushed to one replica runs from another after the first dies; rm removes it everywhere',
  { skip: etcdSkip() || ociSkip, timeout: 240_000 },
  async (t) => {
    // Undone last first, whatever failed: the agent and its containers, the servers, etcd, the dir.
    const cleanups: (() => Promise<unknown>)[] = [];
    t.after(async () => {
      for (const undo of cleanups.reverse()) await undo().catch((e: unknown) => console.error(e));
    });
    const dir = await mkdtemp(join(tmpdir(), 'dabba-ha-images-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const cluster = await startEtcdCluster({ members: 1 });
    cleanups.push(() => cluster.stop());
    const storeUrl = `etcd://${cluster.endpoints.map((e) => e.replace('http://', '')).join(',')}/ha-img-${randomUUID().slice(0, 8)}`;
    const procs = new ServerProcs();
    cleanups.push(() => procs.stopAll());
    const [a, b, c] = [await procs.start(storeUrl), await procs.start(storeUrl), await procs.start(storeUrl)];
    assert.ok(a && b && c);
    const client = (url: string): DabbaClient =>
      new DabbaClient({ token: TEST_ADMIN_TOKEN, addr: url, timeoutMs: 30_000 });
    await waitFor(
      'every replica sees the 3',
      async () => {
        for (const s of [a, b, c]) if ((await client(s.url).servers()).replicas.length !== 3) return false;
        return true;
      },
      60_000,
    );

    // Created through A: B and C copy it from A as its record appears.
    const rootfs = join(dir, 'rootfs');
    await mkdir(rootfs);
    await buildBusyboxRootfs(rootfs);
    await writeFile(join(rootfs, 'motd'), 'served by a replica that did not receive the push\n');
    const created = await cli(['image', 'create', 'shared:v1', '--from-dir', rootfs], { addr: a.url });
    assert.equal(created.code, 0, created.stderr);
    await waitFor(
      'B and C hold the image in their own stores',
      async () =>
        (await namesIn(b.dir)).includes('shared:v1') && (await namesIn(c.dir)).includes('shared:v1'),
      60_000,
      200,
    );
    assert.equal(await blobCount(b.dir), await blobCount(a.dir), 'B holds every blob A has');
    await a.kill9();

    // An agent that knows only B runs a job of that image: it pulls from B.
    const join_ = await cli(['token', 'create', `img-${randomUUID().slice(0, 6)}`, '--role', 'agent'], {
      addr: b.url,
    });
    assert.equal(join_.code, 0, join_.stderr);
    const net = await freeNetwork();
    const agentDir = join(dir, 'agent');
    const agent = await startAgent([
      '--join-token',
      join_.stdout.trim(),
      '--server',
      b.url,
      '--data-dir',
      agentDir,
      '--host-id',
      `imgha-${randomUUID().slice(0, 6)}`,
      '--driver',
      'oci',
      '--bridge',
      net.bridge,
      '--subnet',
      net.subnet,
    ]);
    cleanups.push(async () => {
      if (agent.exitCode === null && agent.signalCode === null) {
        const exited = new Promise((r) => agent.once('exit', r));
        agent.kill('SIGKILL');
        await exited;
      }
      const rt = new OciRuntime({
        stateDir: join(agentDir, 'runtime', 'oci'),
        images: await ImageStore.open(join(agentDir, 'images')),
        network: net,
      });
      const { running, exited } = await rt.recover();
      for (const h of running) await rt.stop(h.taskId, 0);
      for (const id of [...running.map((h) => h.taskId), ...exited.map((e) => e.taskId)]) await rt.remove(id);
      // The bridge and its nftables tables (a bare `ip link del` left the tables behind).
      await (await rt.network()).destroyBridge();
      await rt.close();
    });
    const jobFile = join(dir, 'job.yaml');
    await writeFile(
      jobFile,
      'name: shared\ntask:\n  image: shared:v1\n  command: ["sh", "-c", "cat /motd; sleep 1000"]\n  resources: { memory: 16Mi }\nupdate: { minHealthy: 0s }\n',
    );
    const deployed = await cli(['deploy', jobFile], { addr: b.url });
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
    const status = await cli(['status', 'shared', '--json'], { addr: b.url });
    const task = (JSON.parse(status.stdout) as JobView).tasks[0];
    assert.ok(task);
    await waitFor(
      'the task prints the image\u2019s file',
      async () => /did not receive the push/.test((await cli(['logs', task.id], { addr: b.url })).stdout),
      60_000,
      500,
    );
    assert.ok((await namesIn(agentDir)).includes('shared:v1'), 'the agent has it in its own store');

    // Removed through C once unused: B drops its copy (the tombstone reaches it through its watch).
    assert.equal((await cli(['stop', 'shared'], { addr: b.url })).code, 0);
    const removed = await cli(['image', 'rm', 'shared:v1'], { addr: c.url });
    assert.equal(removed.code, 0, `${removed.stdout}\n${removed.stderr}`);
    assert.deepEqual(await namesIn(c.dir), []);
    assert.equal(await blobCount(c.dir), 0);
    await waitFor(
      'B drops its copy',
      async () => (await namesIn(b.dir)).length === 0 && (await blobCount(b.dir)) === 0,
      60_000,
      200,
    );
    assert.deepEqual(await client(b.url).listImages(), []);
    await assert.rejects(client(b.url).imageSource().manifest('shared:v1'), /not found/i);
  },
);
