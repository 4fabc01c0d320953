/**
 * Hostile images end to end: a real `dabba server` and a real `dabba agent --driver oci`, images
 * uploaded with `dabba image import` whose layers pass the import but escape (or try to) when the
 * agent unpacks them, and jobs using them. Each refused image fails its task with reason
 * `ImageRefused` and a message naming the offending layer path (or the bound a gzip bomb hit); the
 * contained one runs in its own root; canaries beside the agent's data dir (content, mode, mtime)
 * stay as they were; the agent stays up and keeps heartbeating; and a good image deployed afterwards
 * on the same agent runs and becomes healthy. Needs root, runc and conmon (DABBA_SKIP_OCI=1 skips).
 *
 * The daemons and the CLI get this process's environment unchanged (plus a log level and the
 * agent's layer bound), so whatever credentials it carries reach them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageStore, createBuiltinImage } from '../../src/image/index.ts';
import { busyboxLayer, dir, file, tarOf, writeDockerSave } from '../../src/image/test-fixtures.ts';
import type { TarWriteEntry } from '../../src/image/tar-writer.ts';
import { shortId } from '../../src/lib/index.ts';
import type { HostView, JobView, TaskRow } from '../../src/model/index.ts';
import { OciRuntime, detectOci } from '../../src/runtime/oci/index.ts';
import { REPO, cli, getText, waitFor } from '../helpers/dev-cluster.ts';
import { TEST_ADMIN_TOKEN, adminTokenFile } from '../helpers/auth.ts';
import { MiB, hardlink, snapshot, symlink, zeroBomb } from '../image/hostile-fixtures.ts';
import { freeNetwork } from '../oci/oci-fixture.ts';

const detected = await detectOci();
const skip = !detected.ok && process.env['DABBA_SKIP_OCI'] === '1';
if (!detected.ok && !skip) {
  throw new Error(`containers are needed for this test: ${detected.reason} (DABBA_SKIP_OCI=1 skips)`);
}
const DABBA = join(REPO, 'src', 'bin', 'dabba.ts');
/** The agent's bound on one layer's decompressed size: the gzip bomb stops here. */
const LAYER_BOUND = 64 * MiB;
/** The server's --host-timeout (2s): a host whose heartbeats stop is down after this long. */
const HOST_TIMEOUT_MS = 2000;

function daemon(args: string[], marker: RegExp, env: Record<string, string> = {}) {
  return new Promise<{ proc: ChildProcess; url: string }>((resolve, reject) => {
    const proc = spawn(process.execPath, [DABBA, ...args], {
      env: { ...process.env, DABBA_LOG_LEVEL: 'warn', ...env },
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
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code}: ${log}`));
    });
  });
}

/** A one-task job file (as JSON, which the API takes) that is not restarted when it fails. */
function job(name: string, image: string, command: string[], task: Record<string, unknown> = {}) {
  return {
    name,
    task: { image, command, resources: { memory: '32Mi' }, restart: { policy: 'never' }, ...task },
    update: { minHealthy: '0s' },
  };
}

/** The test's cluster: where it lives and how to reach it. */
const c = {
  dir: '',
  addr: '',
  hostId: `hostile-${shortId(6)}`,
  server: undefined as ChildProcess | undefined,
  agent: undefined as ChildProcess | undefined,
  net: undefined as { bridge: string; subnet: string } | undefined,
};

/** The API as the CLI uses it, with the test's admin token. */
async function api(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const init: RequestInit = { method, headers };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(c.addr + path, init);
  return { status: res.status, text: await res.text() };
}

async function firstTask(jobName: string): Promise<TaskRow | undefined> {
  const r = await api('GET', `/v1/jobs/${jobName}`);
  return r.status === 200 ? (JSON.parse(r.text) as JobView).tasks[0] : undefined;
}

async function deployByApi(body: { name: string }): Promise<void> {
  const r = await api('PUT', `/v1/jobs/${body.name}`, body);
  assert.equal(r.status, 200, `deploy ${body.name}: ${r.text}`);
}

/** `dabba image import` of a docker-save archive of these layers. */
async function importImage(name: string, layers: (TarWriteEntry[] | Buffer)[]): Promise<void> {
  const bufs = await Promise.all(layers.map((l) => (Buffer.isBuffer(l) ? Promise.resolve(l) : tarOf(l))));
  const path = join(c.dir, `${name.replace(/\W/g, '-')}.tar`);
  await writeDockerSave(path, bufs, { repoTags: [name] });
  const r = await cli(['image', 'import', path], { addr: c.addr });
  assert.equal(r.code, 0, `import ${name}: ${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, new RegExp(`imported ${name} sha256:`));
}

/** `dabba status JOB --json`. */
async function status(jobName: string): Promise<JobView> {
  const r = await cli(['status', jobName, '--json'], { addr: c.addr });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as JobView;
}

/** The host's state, by `dabba hosts --json`. */
async function hostState(): Promise<string | undefined> {
  const r = await cli(['hosts', '--json'], { addr: c.addr });
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as HostView[]).find((h) => h.id === c.hostId)?.state;
}

/** Canaries beside the agent's data dir, never under it: known content, modes and times. */
async function makeCanaries(canary: string): Promise<Record<string, string>> {
  await mkdir(join(canary, 'dir', 'sub'), { recursive: true });
  await writeFile(join(canary, 'file'), 'canary file');
  await writeFile(join(canary, 'dir', 'inner'), 'inner file');
  await chmod(join(canary, 'file'), 0o640);
  await chmod(join(canary, 'dir'), 0o750);
  await chmod(join(canary, 'dir', 'sub'), 0o700);
  const t = new Date('2001-02-03T04:05:06Z');
  for (const p of ['file', 'dir/inner', 'dir/sub', 'dir', '.']) await utimes(join(canary, p), t, t);
  return snapshot(canary);
}

async function startCluster(): Promise<void> {
  const net = await freeNetwork();
  c.net = net;
  const s = await daemon(
    [
      'server',
      '--data-dir',
      join(c.dir, 'server'),
      '--listen',
      '127.0.0.1:0',
      '--host-timeout',
      '2s',
      '--admin-token-file',
      adminTokenFile(),
    ],
    /API at (http:\/\/\S+)/,
  );
  c.server = s.proc;
  c.addr = s.url;
  // The agent joins as an operator has it join: with a token of role agent.
  const joinToken = await cli(['token', 'create', `join-${c.hostId}`, '--role', 'agent'], { addr: c.addr });
  assert.equal(joinToken.code, 0, joinToken.stderr);
  const agentArgs = ['agent', '--server', c.addr, '--data-dir', join(c.dir, 'agent')];
  agentArgs.push('--join-token', joinToken.stdout.trim());
  agentArgs.push('--host-id', c.hostId, '--driver', 'oci', '--bridge', net.bridge, '--subnet', net.subnet);
  const a = await daemon(agentArgs, /endpoint at (https?:\/\/\S+)/, {
    DABBA_IMAGE_MAX_LAYER_BYTES: String(LAYER_BOUND),
  });
  c.agent = a.proc;
}

async function stopCluster(): Promise<void> {
  for (const p of [c.agent, c.server]) {
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
  }
  if (!c.net) return;
  const rt = new OciRuntime({
    stateDir: join(c.dir, 'agent', 'runtime', 'oci'),
    images: await ImageStore.open(join(c.dir, 'agent', 'images')),
    network: c.net,
  });
  try {
    const { running, exited } = await rt.recover();
    for (const h of running) await rt.stop(h.taskId, 0);
    for (const id of [...running.map((h) => h.taskId), ...exited.map((e) => e.taskId)]) await rt.remove(id);
    await (await rt.network()).destroyBridge();
  } finally {
    await rt.close();
  }
}

describe(
  'hostile images through a real server and oci agent',
  { skip: skip ? detected.reason : false },
  () => {
    let canary = '';
    let canary0: Record<string, string> = {};
    let bb: Buffer;
    /** When the last refused task had failed: the heartbeat check waits past it. */
    let failedAt = 0;

    before(async () => {
      c.dir = await mkdtemp(join(tmpdir(), 'dabba-hostile-e2e-'));
      canary = join(c.dir, 'canary');
      canary0 = await makeCanaries(canary);
      // The good image is built (not uploaded) while the daemons start.
      const build = (async () => {
        const store = await ImageStore.open(join(c.dir, 'build'));
        await createBuiltinImage(store, 'hello', { name: 'good:1' });
        await store.exportArchive(['good:1'], join(c.dir, 'good.tar'));
        await rm(join(c.dir, 'build'), { recursive: true, force: true });
      })();
      [bb] = await Promise.all([busyboxLayer(), startCluster(), build]);
    });

    after(async () => {
      try {
        await stopCluster();
      } finally {
        await rm(c.dir, { recursive: true, force: true });
      }
    });

    test('escaping layers and a gzip bomb pass the import; each task fails naming why', async () => {
      // From a layer being unpacked (agent/images/layers/.tmp-x/) a relative way to the canaries.
      const up = relative(join(c.dir, 'agent', 'images', 'layers', '.tmp-x'), canary);
      const refused: { job: string; layers: (TarWriteEntry[] | Buffer)[]; message: RegExp }[] = [
        {
          // (a) a symlink replaces a directory already seen, then a file is written "under" it.
          job: 'esc-dirlink',
          layers: [bb, [dir('a'), file('a/x', '1'), symlink('a', join(canary, 'dir')), file('a/pwned', 'x')]],
          message: /layer path "a\/pwned" goes through "a", which is a symlink/,
        },
        {
          // (a) deeper, with a relative link target climbing out of the layer cache.
          job: 'esc-deep',
          layers: [bb, [dir('p'), dir('p/q'), symlink('p', `${up}/dir`), dir('p/sub'), file('p/sub/x', '')]],
          message: /layer path "p\/sub" goes through "p", which is a symlink/,
        },
        {
          // (c) a hard link whose target goes through a symlinked parent.
          job: 'esc-hardlink',
          layers: [bb, [symlink('s', canary), hardlink('h', 's/file')]],
          message: /layer path "s\/file" goes through "s", which is a symlink/,
        },
        {
          // (c) across layers: the symlink in a lower layer, the hard link in the next one.
          job: 'esc-lower',
          layers: [bb, [symlink('etc2', canary)], [hardlink('stolen', 'etc2/file')]],
          message: /layer path "etc2\/file" goes through "etc2", which is a symlink/,
        },
        {
          // A gzip bomb: 1 GiB of zeros in ~1 MB. The server keeps gzip layers as uploaded (it does
          // not expand them at import), so this one reaches the agent, which stops at its bound.
          job: 'bomb',
          layers: [zeroBomb(1024 * MiB).layer],
          message: new RegExp(
            `over the limit of ${LAYER_BOUND} \\(maxLayerBytes; raise it with DABBA_IMAGE_MAX_LAYER_BYTES\\)`,
          ),
        },
      ];
      await Promise.all(refused.map((r) => importImage(`${r.job}:1`, r.layers)));
      await Promise.all(
        refused.map((r) => deployByApi(job(r.job, `${r.job}:1`, ['sh', '-c', 'sleep 1000']))),
      );
      await Promise.all(
        refused.map((r) =>
          waitFor(`${r.job} to fail`, async () => (await firstTask(r.job))?.state === 'failed', 40_000),
        ),
      );
      failedAt = Date.now();
      const views = await Promise.all(refused.map((r) => status(r.job)));
      for (const [i, r] of refused.entries()) {
        const task = views[i]?.tasks[0];
        assert.ok(task, `${r.job}: no task`);
        const what = `${r.job}: ${task.reason} ${task.message}`;
        assert.equal(task.state, 'failed', what);
        assert.equal(task.host, c.hostId, what);
        assert.equal(task.reason, 'ImageRefused', what);
        assert.match(task.message ?? '', new RegExp(`^image "${r.job}:1" refused: `), what);
        assert.match(task.message ?? '', r.message, what);
        assert.doesNotMatch(task.message ?? '', /\n\s+at /, 'no stack in the message');
      }

      assert.deepEqual(await snapshot(canary), canary0, 'the canaries changed');
      const beside = (await readdir(c.dir)).filter((n) => !n.endsWith('.tar'));
      assert.deepEqual(beside.sort(), ['agent', 'canary', 'server'], 'files appeared beside the data dirs');
      const agentImages = await ImageStore.open(join(c.dir, 'agent', 'images'));
      const halfDone = (await readdir(agentImages.layers.root)).filter((n) => n.startsWith('.tmp-'));
      assert.deepEqual(halfDone, [], 'half-unpacked layers left on the agent');
      for (const r of refused) assert.ok((await api('DELETE', `/v1/jobs/${r.job}`)).status < 300);
    });

    test('(b) a directory mode set through a later symlink is contained: the task runs in its own root', async () => {
      const up = relative(join(c.dir, 'agent', 'images', 'layers', '.tmp-x'), canary);
      await importImage('esc-mode:1', [
        bb,
        [
          { header: { path: 'd/', type: 'directory', mode: 0o777, mtime: 12345 } },
          { header: { path: 'f/', type: 'directory', mode: 0o4777, mtime: 12345, uid: 1234 } },
          file('d/x', 'in d'),
          symlink('d', join(canary, 'dir')),
          symlink('f', join(canary, 'file')),
          { header: { path: 'g/', type: 'directory', mode: 0o777, mtime: 12345 } },
          symlink('g', `${up}/dir/sub`),
        ],
      ]);
      const check = 'test -L /d && test -L /f && test -L /g && test ! -e /d/inner && echo contained';
      await deployByApi(job('esc-mode', 'esc-mode:1', ['sh', '-c', `${check}; sleep 1000`]));
      const task = await waitFor('esc-mode to run', async () => {
        const t = await firstTask('esc-mode');
        assert.notEqual(t?.state, 'failed', `${t?.reason} ${t?.message}`);
        return t?.state === 'running' ? t : undefined;
      });
      await waitFor('esc-mode to say it is contained', async () =>
        /contained/.test((await api('GET', `/v1/tasks/${task.id}/logs`)).text),
      );
      assert.deepEqual(await snapshot(canary), canary0, 'the canaries changed');
      assert.ok((await api('DELETE', '/v1/jobs/esc-mode')).status < 300);
    });

    test('the agent stays up and heartbeating; a good image then runs healthy on it', async () => {
      assert.equal(c.agent?.exitCode, null, 'the agent exited');
      assert.equal(c.agent?.signalCode, null, 'the agent was killed');
      const imp = await cli(['image', 'import', join(c.dir, 'good.tar')], { addr: c.addr });
      assert.equal(imp.code, 0, imp.stderr);
      const path = join(c.dir, 'good.json');
      const ports = [{ name: 'http', port: 8080 }];
      const health = { readiness: { http: { port: 'http', path: '/' }, interval: '300ms' } };
      const env = { GREETING: 'still here' };
      const good = job('good', 'good:1', ['httpd', '-f', '-p', '8080', '-h', '/www'], { ports, health, env });
      await writeFile(path, JSON.stringify(good));
      const dep = await cli(['deploy', path, '--detach'], { addr: c.addr });
      assert.equal(dep.code, 0, `${dep.stdout}\n${dep.stderr}`);
      await waitFor('good to be healthy', async () => {
        const t = await firstTask('good');
        assert.notEqual(t?.state, 'failed', `${t?.reason} ${t?.message}`);
        return t?.healthy === true;
      });
      const task = (await status('good')).tasks[0];
      assert.ok(task);
      assert.equal(task.state, 'running');
      assert.equal(task.host, c.hostId);
      assert.match(await getText(`http://${task.address}:8080/`), /still here from good-/);

      // Past the host timeout since the failures: a host whose heartbeats had stopped would be down.
      const wait = failedAt + HOST_TIMEOUT_MS + 1000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      assert.equal(await hostState(), 'ready');
      assert.equal(c.agent?.exitCode, null, 'the agent exited');
      assert.deepEqual(await snapshot(canary), canary0, 'the canaries changed');
      assert.ok((await api('DELETE', '/v1/jobs/good')).status < 300);
    });
  },
);
