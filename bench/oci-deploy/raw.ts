/**
 * The baselines of bench/oci-deploy.ts, on bundles prepared beforehand and untimed (overlay
 * mounted, network namespace connected to a bridge with an address, config.json as the runtime
 * writes it): `runc run -d`, `crun run -d`, `podman run -d` of the same root filesystem (in the same
 * network namespace), `runc create` + `runc start` (the split alone), and conmon running
 * `runc create` then `runc start` (the split under conmon).
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { imageDefaults, type ImageInfo, type ImageStore } from '../../src/image/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { BridgeNetwork, buildSpec, type CgroupLayout, parseSubnet } from '../../src/runtime/oci/index.ts';
import { conmonArgs } from '../../src/runtime/oci/conmon.ts';
import { findExecutable, runTool } from '../../src/runtime/oci/tool.ts';
import { answering, now } from './util.ts';

export const PORT = 8080;
/** Each task's CPU limit (a low quota throttles runc's own init in the task's cgroup: 0.01 costs ~1 s). */
export const CPU = 0.25;
const RAW_NET = { bridge: 'dbraw0', subnet: parseSubnet('10.246.0.0/16') };

export interface RawTimes {
  running: number;
  answering: number;
}

export interface RawBundle {
  id: string;
  bundle: string;
  address: string;
}

function spawnOk(file: string, args: string[]): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolveRun() : reject(new Error(`${file} ${args.join(' ')}: ${code} ${err.trim()}`)),
    );
  });
}

export class RawBaselines {
  private readonly dir: string;
  private readonly images: ImageStore;
  private readonly image: ImageInfo;
  private readonly layout: CgroupLayout;
  private readonly root: string;
  private readonly net: BridgeNetwork;
  private readonly ids: { runtime: 'runc' | 'crun'; id: string }[] = [];
  private readonly podmanIds: string[] = [];
  private addr = 2;
  runc = 'runc';
  crun = 'crun';
  conmon = 'conmon';
  podman: string | undefined;

  constructor(dir: string, images: ImageStore, image: ImageInfo, layout: CgroupLayout) {
    this.dir = dir;
    this.images = images;
    this.image = image;
    this.layout = layout;
    this.root = join(dir, 'raw-runtime');
    this.net = new BridgeNetwork({ ...RAW_NET, ip: 'ip', logger: silentLogger });
  }

  async init(): Promise<void> {
    this.runc = (await findExecutable('runc')) ?? 'runc';
    this.crun = (await findExecutable('crun')) ?? 'crun';
    this.conmon = (await findExecutable('conmon')) ?? 'conmon';
    this.podman = await findExecutable('podman');
    await this.net.ensureBridge();
  }

  /** A bundle like the runtime's, prepared untimed. */
  async bundle(id: string): Promise<RawBundle> {
    const b = join(this.dir, 'raw', id);
    await mkdir(b, { recursive: true });
    await this.images.prepareRootfs(this.image, b);
    const address = `10.246.${Math.floor(this.addr / 250)}.${(this.addr % 250) + 2}`;
    this.addr++;
    const net = { netns: `dbraw-${id}`, hostVeth: `dbr${id}`, address };
    await this.net.createNamespace(net);
    await this.net.connect(net);
    const defaults = imageDefaults(this.image);
    await writeFile(join(b, 'hosts'), `127.0.0.1\tlocalhost\n${address}\t${id}\n`);
    await writeFile(join(b, 'hostname'), `${id}\n`);
    const config = buildSpec({
      args: defaults.args,
      env: Object.entries({ ...defaults.env, HOSTNAME: id }).map(([k, v]) => `${k}=${v}`),
      cwd: defaults.workingDir,
      uid: 0,
      gid: 0,
      hostname: id,
      netnsPath: `/run/netns/${net.netns}`,
      cgroupsPath: `/dabba-bench/${id}`,
      resources: { cpu: CPU, memoryBytes: 32 * 1024 * 1024, pids: 32 },
      hostsFile: join(b, 'hosts'),
      hostnameFile: join(b, 'hostname'),
      cgroupVersion: this.layout.version,
      swapLimit: true,
      nofile: 1024,
    });
    await writeFile(join(b, 'config.json'), JSON.stringify(config));
    return { id, bundle: b, address };
  }

  /** `RUNTIME run -d`: ms until it returns, and until the port answers, from spawn. */
  async run(runtime: 'runc' | 'crun', b: RawBundle, everyMs = 1): Promise<RawTimes> {
    const t0 = now();
    this.ids.push({ runtime, id: b.id });
    await spawnOk(this[runtime], ['--root', this.root, 'run', '-d', '--bundle', b.bundle, b.id]);
    const running = now() - t0;
    return { running, answering: (await answering(b.address, PORT, everyMs)) - t0 };
  }

  /**
   * `podman run -d` of the bundle's root filesystem (`--rootfs`), in the bundle's network namespace
   * (so its network is prepared untimed, as for the others), with the same limits.
   */
  async podmanRun(b: RawBundle, everyMs = 1): Promise<RawTimes> {
    if (this.podman === undefined) throw new Error('podman is not installed');
    const defaults = imageDefaults(this.image);
    const name = `dbbench-${b.id}`;
    const t0 = now();
    this.podmanIds.push(name);
    await spawnOk(this.podman, [
      'run',
      '-d',
      '--name',
      name,
      '--network',
      `ns:/run/netns/dbraw-${b.id}`,
      '--cpus',
      String(CPU),
      '--memory',
      '32m',
      '--pids-limit',
      '32',
      // podman's defaults (1048576 files and processes) are above this host's hard limits, where
      // crun's setrlimit fails (the task has a pids limit of 32 anyway).
      ...['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'],
      '--rootfs',
      join(b.bundle, 'rootfs'),
      ...defaults.args,
    ]);
    const running = now() - t0;
    return { running, answering: (await answering(b.address, PORT, everyMs)) - t0 };
  }

  /** Raw `runc create` then `runc start` (the split, without conmon): ms to start returned. */
  async createStart(b: RawBundle): Promise<number> {
    const t0 = now();
    this.ids.push({ runtime: 'runc', id: b.id });
    await spawnOk(this.runc, ['--root', this.root, 'create', '--bundle', b.bundle, b.id]);
    await spawnOk(this.runc, ['--root', this.root, 'start', b.id]);
    return now() - t0;
  }

  /** conmon runs `runc create` (its sync pipe gives the pid), then `runc start`: ms until it returned. */
  async conmonStart(b: RawBundle): Promise<number> {
    const t0 = now();
    const d = join(this.dir, 'raw-conmon', b.id);
    await mkdir(d, { recursive: true });
    this.ids.push({ runtime: 'runc', id: b.id });
    const child = spawn(
      this.conmon,
      conmonArgs({
        conmon: this.conmon,
        runtime: this.runc,
        runtimeArgs: ['--root', this.root],
        containerId: b.id,
        uuid: b.id,
        bundle: b.bundle,
        pidFile: join(d, 'pidfile'),
        conmonPidFile: join(d, 'conmon.pid'),
        exitDir: d,
        logPath: join(d, 'ctr.log'),
        socketDir: d,
      }),
      {
        cwd: b.bundle,
        env: { ...process.env, _OCI_SYNCPIPE: '3' },
        stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      },
    );
    await new Promise<void>((resolvePid, reject) => {
      child.on('error', reject);
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('conmon gave no sync message within 30 s'));
      }, 30_000);
      let text = '';
      const sync = child.stdio[3] as Readable;
      sync.setEncoding('utf8');
      const done = (): void => {
        clearTimeout(timer);
        const n = Number(/"data"\s*:\s*(-?\d+)/.exec(text)?.[1] ?? NaN);
        if (n > 0) resolvePid();
        else reject(new Error(`conmon: ${text || 'no sync message'}`));
      };
      sync.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('}')) {
          sync.removeAllListeners('end');
          done();
          sync.destroy();
        }
      });
      sync.on('end', done);
    });
    await spawnOk(this.runc, ['--root', this.root, 'start', b.id]);
    return now() - t0;
  }

  /** Deletes every container, conmon, bundle, mount and namespace made so far. */
  async cleanup(): Promise<void> {
    for (const { runtime, id } of this.ids.splice(0))
      await runTool(this[runtime], ['--root', this.root, 'delete', '--force', id]);
    if (this.podman !== undefined && this.podmanIds.length > 0)
      await runTool(this.podman, ['rm', '--force', '--time', '0', ...this.podmanIds.splice(0)]);
    // The raw conmons exit with their containers; one that did not (a failed create) is killed.
    for (const id of await readdir(join(this.dir, 'raw-conmon')).catch(() => [] as string[])) {
      const d = join(this.dir, 'raw-conmon', id);
      const pid = Number((await readFile(join(d, 'conmon.pid'), 'utf8').catch(() => '')).trim());
      const comm = pid > 0 ? (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() : '';
      if (comm === 'conmon') {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await rm(d, { recursive: true, force: true });
    }
    for (const id of await readdir(join(this.dir, 'raw')).catch(() => [] as string[])) {
      await this.net.teardown({ netns: `dbraw-${id}`, hostVeth: `dbr${id}` });
      await this.images.releaseRootfs(join(this.dir, 'raw', id));
      await rm(join(this.dir, 'raw', id), { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {
    await this.cleanup();
    await this.net.destroyBridge();
  }
}
