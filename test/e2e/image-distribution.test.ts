/**
 * Images cross hosts through the server: a `dabba server` and a separate `dabba agent` (oci) with
 * their own image stores. `dabba image import` and `dabba image create` upload once; the agent
 * fetches what its tasks need (content-addressed, verified) and runs them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageStore, buildBusyboxRootfs, createBuiltinImage } from '../../src/image/index.ts';
import type { JobView } from '../../src/model/index.ts';
import { OciRuntime, detectOci } from '../../src/runtime/oci/index.ts';
import { REPO, cli, getText, waitFor } from '../helpers/dev-cluster.ts';
import { adminTokenFile } from '../helpers/auth.ts';

const detected = await detectOci();
const skip = !detected.ok && process.env['DABBA_SKIP_OCI'] === '1';
if (!detected.ok && !skip) {
  throw new Error(`containers are needed for this test: ${detected.reason} (DABBA_SKIP_OCI=1 skips)`);
}
const DABBA = join(REPO, 'src', 'bin', 'dabba.ts');

function daemon(args: string[], marker: RegExp): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [DABBA, ...args], {
      env: { ...process.env, DABBA_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    const timer = setTimeout(() => reject(new Error(`did not start: ${log}`)), 30_000);
    proc.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
      const m = marker.exec(log);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ proc, url: m[1] });
      }
    });
    proc.on('exit', (code) => reject(new Error(`exited ${code}: ${log}`)));
  });
}

describe('image distribution', { skip: skip ? detected.reason : false }, () => {
  let dir: string;
  let server: ChildProcess | undefined;
  let agent: ChildProcess | undefined;
  let addr = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-images-'));
    const s = await daemon(
      [
        'server',
        '--data-dir',
        join(dir, 'server'),
        '--listen',
        '127.0.0.1:0',
        '--admin-token-file',
        adminTokenFile(),
      ],
      /API at (http:\/\/\S+)/,
    );
    server = s.proc;
    addr = s.url;
    // The agent joins as an operator would have it join: with a token of role agent.
    const join_ = await cli(['token', 'create', 'img-join', '--role', 'agent'], { addr });
    assert.equal(join_.code, 0, join_.stderr);
    const a = await daemon(
      [
        'agent',
        '--join-token',
        join_.stdout.trim(),
        '--server',
        addr,
        '--data-dir',
        join(dir, 'agent'),
        '--host-id',
        'imghost',
        '--driver',
        'oci',
        '--bridge',
        'dabbaimg0',
        '--subnet',
        '10.89.7.0/24',
      ],
      /endpoint at (https?:\/\/\S+)/,
    );
    agent = a.proc;
  });

  after(async () => {
    for (const p of [agent, server]) {
      if (p && p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await exited;
      }
    }
    const rt = new OciRuntime({
      stateDir: join(dir, 'agent', 'runtime', 'oci'),
      images: await ImageStore.open(join(dir, 'agent', 'images')),
      network: { bridge: 'dabbaimg0', subnet: '10.89.7.0/24' },
    });
    const { running, exited } = await rt.recover();
    for (const h of running) await rt.stop(h.taskId, 0);
    for (const id of [...running.map((h) => h.taskId), ...exited.map((e) => e.taskId)]) await rt.remove(id);
    // The test's own bridge and its nftables tables (a bare `ip link del` left the tables behind).
    await (await rt.network()).destroyBridge();
    await rt.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('import an OCI archive and create from a directory, through the CLI', async () => {
    // An archive of the hello image, made the way an image is shipped (OCI layout in a tar).
    const build = await ImageStore.open(join(dir, 'build'));
    await createBuiltinImage(build, 'hello', { name: 'shipped:v1' });
    await build.exportArchive(['shipped:v1'], join(dir, 'shipped.tar'));
    const imp = await cli(['image', 'import', join(dir, 'shipped.tar')], { addr });
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /imported shipped:v1 sha256:/);

    await build.exportLayout(['shipped:v1'], join(dir, 'layout'));
    const layout = await cli(['image', 'import', join(dir, 'layout'), '--name', 'laid:v2'], { addr });
    assert.equal(layout.code, 0, layout.stderr);
    assert.match(layout.stdout, /imported laid:v2 sha256:/);

    const rootfs = join(dir, 'rootfs');
    await mkdir(rootfs);
    await buildBusyboxRootfs(rootfs);
    await writeFile(join(rootfs, 'motd'), 'made from a directory\n');
    const created = await cli(['image', 'create', 'fromdir', '--from-dir', rootfs], { addr });
    assert.equal(created.code, 0, created.stderr);

    const ls = await cli(['image', 'ls', '--json'], { addr });
    const names = (JSON.parse(ls.stdout) as { name: string }[]).map((i) => i.name).sort();
    assert.deepEqual(names, ['fromdir:latest', 'laid:v2', 'shipped:v1']);

    const bad = await cli(['image', 'import', join(dir, 'nope.tar')], { addr });
    assert.equal(bad.code, 2);
    await writeFile(join(dir, 'junk.tar'), 'this is not a tar archive');
    const junk = await cli(['image', 'import', join(dir, 'junk.tar')], { addr });
    assert.equal(junk.code, 2, `${junk.stdout} ${junk.stderr}`);
  });

  test('the agent fetches the images its tasks need from the server and runs them', async () => {
    const jobFile = join(dir, 'job.yaml');
    await writeFile(
      jobFile,
      `name: shipped
replicas: 2
task:
  image: shipped:v1
  command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
  env: { GREETING: "pulled" }
  resources: { cpu: 0.1, memory: 32Mi }
  ports: [{ name: http, port: 8080 }]
  health: { readiness: { http: { port: http, path: / }, interval: 500ms } }
update: { minHealthy: 0s }
`,
    );
    const r = await cli(['deploy', jobFile], { addr });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const view = JSON.parse((await cli(['status', 'shipped', '--json'], { addr })).stdout) as JobView;
    for (const t of view.tasks) {
      const body = await getText(`http://${t.address}:8080/`);
      assert.match(body, /pulled from shipped-/);
    }
    const agentImages = await ImageStore.open(join(dir, 'agent', 'images'));
    assert.ok(await agentImages.get('shipped:v1'), 'the agent has the image in its own store');

    const motd = join(dir, 'motd.yaml');
    await writeFile(
      motd,
      `name: motd\ntask:\n  image: fromdir\n  command: ["sh", "-c", "cat /motd; sleep 1000"]\n  resources: { memory: 16Mi }\nupdate: { minHealthy: 0s }\n`,
    );
    assert.equal((await cli(['deploy', motd], { addr })).code, 0);
    const task = (JSON.parse((await cli(['status', 'motd', '--json'], { addr })).stdout) as JobView).tasks[0];
    assert.ok(task);
    await waitFor('motd log', async () =>
      /made from a directory/.test((await cli(['logs', task.id], { addr })).stdout),
    );
    for (const job of ['shipped', 'motd']) assert.equal((await cli(['stop', job], { addr })).code, 0);
  });
});
