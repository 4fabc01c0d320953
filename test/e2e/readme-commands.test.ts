/**
 * The newcomer's first hour, as written: `npm start` (its script, from package.json) on each
 * runtime, then every command `dabba dev` prints under "try next" and every command of the README's
 * "Then, in another terminal" block, read from README.md and from dev's output (so neither can
 * drift), run through `sh` from the repository exactly as written. The only substitutions are the
 * ones a reader makes: this cluster's address for the README's default one, a real task id for the
 * README's example id, a real pid for `<pid of a task>`. Then a rolling update (3 addresses, all of
 * the new version, no old task answering once deploy returns), and scale, restart, exec, describe,
 * version --json and completion bash.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageStore } from '../../src/image/index.ts';
import type { JobView } from '../../src/model/index.ts';
import { OciRuntime, detectOci } from '../../src/runtime/oci/index.ts';
import { DevCluster, REPO, waitFor } from '../helpers/dev-cluster.ts';

const detected = await detectOci();
const skipOci = !detected.ok && process.env['DABBA_SKIP_OCI'] === '1';
if (!detected.ok && !skipOci) {
  throw new Error(
    `containers are needed for this test: ${detected.reason} (run as root with runc and conmon installed; DABBA_SKIP_OCI=1 skips)`,
  );
}

/** The environment every command runs with (a token, once the API needs one, goes here). */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env['DABBA_LOG_LEVEL'] = 'warn';
  return env;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs one shell line from the repository. With `interruptAfterOutput` (a `-f` command) it is sent
 * SIGINT, as Ctrl-C would, once it has printed something or after `quietAfterMs` (3 s: busybox
 * httpd, the container example, logs nothing; a command expected to print waits longer, as the CLI
 * starts slowly on a loaded machine).
 */
function sh(
  line: string,
  env: Record<string, string>,
  o: { interruptAfterOutput?: boolean; quietAfterMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', line], {
      cwd: REPO,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    const group = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // gone
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (o.interruptAfterOutput && !interrupted && stdout.includes('\n')) {
        interrupted = true;
        setTimeout(() => group('SIGINT'), 300);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => group('SIGKILL'), 180_000);
    if (o.interruptAfterOutput)
      setTimeout(() => {
        interrupted = true;
        group('SIGINT');
      }, o.quietAfterMs ?? 3000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === 'SIGINT' ? 130 : 128), stdout, stderr });
    });
  });
}

/** The command lines of the README's "Then, in another terminal" block. */
async function readmeBlock(): Promise<string[]> {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const at = readme.indexOf('Then, in another terminal');
  assert.ok(at >= 0, 'the README has its "Then, in another terminal" block');
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m?.[1], 'the block is a sh code block');
  return m[1].split('\n').filter((l) => l.trim() !== '');
}

/** The command lines `dabba dev` printed under "try next". */
function tryNextLines(log: string): string[] {
  const at = log.indexOf('try next');
  const end = log.indexOf('Ctrl-C stops', at);
  assert.ok(at >= 0 && end > at, `dev printed what to try next:\n${log}`);
  return log
    .slice(at, end)
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/**
 * Listens on 127.0.0.1:`port` until released (undefined when something else holds it already,
 * which is as good for the test).
 */
async function holdPort(port: number): Promise<{ port: number; release(): Promise<void> } | undefined> {
  assert.ok(Number.isInteger(port) && port > 0, 'npm start gives an --ingress port');
  const server = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(true));
  });
  if (!ok) return undefined;
  return { port, release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** `npm start`'s arguments to `dabba dev`, from package.json. */
async function npmStartArgs(): Promise<string[]> {
  const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const words = (pkg.scripts['start'] ?? '').split(/\s+/);
  assert.deepEqual(words.slice(0, 3), ['node', 'src/bin/dabba.ts', 'dev'], 'npm start runs dabba dev');
  return words.slice(3);
}

for (const driver of ['process', 'oci'] as const) {
  const skip = driver === 'oci' && skipOci ? detected.reason : false;
  describe(`the first hour on the ${driver} runtime, as written`, { skip }, () => {
    let c: DevCluster;
    const env = baseEnv();

    /** npm start's ingress port, held by someone else during the process runtime's start. */
    let heldPort: number | undefined;

    before(async () => {
      const args = await npmStartArgs();
      // The process runtime's npm start finds its ingress port taken (here by the test, as by
      // another cluster on the machine): it serves on another and prints that one.
      const held =
        driver === 'process' ? await holdPort(Number(args[args.indexOf('--ingress') + 1])) : undefined;
      heldPort = held?.port;
      try {
        c = await DevCluster.start({ driver, args, cwd: REPO });
        await waitFor(
          'dev to deploy and print what to try next',
          () => c.log.includes('Ctrl-C stops'),
          180_000,
        );
      } finally {
        await held?.release();
      }
      env['DABBA_ADDR'] = c.url;
      // The same user as the one who ran `npm start`: the credentials dev stored for its address
      // are in this user's config dir (the cluster's own here); no token is given.
      env['XDG_CONFIG_HOME'] = c.configHome;
      delete env['DABBA_TOKEN'];
    });
    after(async () => {
      await c.kill9();
      if (driver === 'oci') {
        const rt = new OciRuntime({
          stateDir: join(c.dataDir, 'agent', 'runtime', 'oci'),
          images: await ImageStore.open(join(c.dataDir, 'images')),
        });
        const { running, exited } = await rt.recover();
        for (const h of running) await rt.stop(h.taskId, 0);
        for (const id of [...running.map((h) => h.taskId), ...exited.map((e) => e.taskId)])
          await rt.remove(id);
        await rt.close();
      }
      await c.destroy();
    });

    async function status(): Promise<JobView> {
      const r = await sh('bin/dabba status hello --json', env);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as JobView;
    }
    const running = (v: JobView): JobView['tasks'] =>
      v.tasks.filter((t) => t.desired === 'run' && t.state === 'running' && t.healthy);

    /** Runs a line as written (after the reader's substitutions) and checks what it should do. */
    async function runLine(line: string): Promise<void> {
      const cmd = line.replace(/\s+#.*$/, '');
      const exp = /^export (\w+)=(\S+)$/.exec(cmd);
      if (exp) {
        assert.equal(exp[1], 'DABBA_ADDR');
        return; // the reader's own cluster address is already in env
      }
      if (cmd.startsWith('kill -9 ')) {
        const before = running(await status())[0];
        assert.ok(before?.pid, 'a running task to kill');
        const r = await sh(line.replace('<pid of a task>', String(before.pid)), env);
        assert.equal(r.code, 0, r.stderr);
        await waitFor(
          `${before.id} to come back after kill -9`,
          async () => {
            const t = (await status()).tasks.find((x) => x.id === before.id);
            return t?.state === 'running' && t.healthy && t.restarts > before.restarts;
          },
          60_000,
        );
        return;
      }
      const follow = /\s-f(\s|$)/.test(cmd);
      const r = await sh(line, env, {
        interruptAfterOutput: follow,
        ...(driver === 'process' ? { quietAfterMs: 30_000 } : {}),
      });
      const what = `${line}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n--- dev\n${c.log.slice(-3000)}`;
      if (follow) {
        // Ctrl-C of a follow: exit 130 (README, exit codes), as a user's terminal would see it.
        assert.equal(r.code, 130, `interrupted: exit ${r.code}: ${what}`);
        if (driver === 'process') assert.ok(r.stdout.trim().length > 0, `printed the task's output: ${what}`);
      } else {
        assert.equal(r.code, 0, what);
      }
      const execd = /bin\/dabba exec (\S+) -- cat \/etc\/hostname/.exec(cmd);
      if (execd && driver === 'oci')
        assert.equal(r.stdout.trim(), execd[1], 'the container hostname is the task id');
    }

    test("npm start's try-next lines work as printed", async () => {
      assert.match(c.log, /job hello version 1 is healthy: 3\/3 tasks/);
      // One address for all of hello: the mesh's ingress, at the address npm start printed (its
      // port is npm start's unless another cluster on this machine holds it).
      const ingress = /^\s+hello: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(c.log)?.[1];
      assert.ok(ingress !== undefined, `npm start printed hello's ingress address:\n${c.log}`);
      if (heldPort !== undefined)
        assert.ok(!ingress.includes(`:${String(heldPort)}/`), `${ingress}: not the held port`);
      const ids = new Set(running(await status()).map((t) => t.id));
      const seen = new Set<string>();
      await waitFor(
        `every hello task answering through ${ingress}`,
        async () => {
          const res = await fetch(ingress, { signal: AbortSignal.timeout(10_000) });
          const from = /from (hello-[a-z0-9]+)/.exec(await res.text())?.[1];
          if (res.ok && from !== undefined && ids.has(from)) seen.add(from);
          return seen.size === ids.size;
        },
        120_000,
      );
      assert.match(c.log, new RegExp(`from examples/hello/job${driver === 'oci' ? '\\.oci' : ''}\\.yaml`));
      const lines = tryNextLines(c.log);
      assert.ok(lines.some((l) => l.startsWith('bin/dabba deploy ')));
      for (const line of lines) await runLine(line);
      assert.equal((await status()).status, 'stopped', 'the last try-next line stopped hello');
    });

    test("the README's commands work as written", async () => {
      // The README's block follows npm start, which deployed hello: deploy it again as npm start did.
      const d = await sh('bin/dabba deploy examples/hello', env);
      assert.equal(d.code, 0, d.stdout + d.stderr);
      const lines = await readmeBlock();
      const sample = /hello-[a-z0-9]{5}/.exec(lines.join('\n'))?.[0];
      assert.ok(sample, 'the README names a task id as an example');
      for (const raw of lines) {
        const task = running(await status())[0];
        assert.ok(task, 'a running task of hello');
        const line = raw.replaceAll('http://127.0.0.1:7070', c.url).replaceAll(sample, task.id);
        await runLine(line);
      }
      assert.equal((await status()).status, 'stopped', 'the last line stopped hello');
    });

    test('a rolling update of 3 replicas: 3 addresses, all of the new version, no old task answering', async () => {
      const dir = join(c.dataDir, 'hello-copy');
      await cp(join(REPO, 'examples', 'hello'), dir, { recursive: true });
      const first = await sh(`bin/dabba deploy ${dir}`, env);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      const old = running(await status()).map((t) => `${t.address ?? ''}:${t.ports['http'] ?? 0}`);
      assert.equal(old.length, 3);
      const file = join(dir, driver === 'oci' ? 'job.oci.yaml' : 'job.yaml');
      await writeFile(
        file,
        (await readFile(file, 'utf8')).replace(/GREETING: '[^']*'/, "GREETING: 'brand new'"),
      );
      const r = await sh(`bin/dabba deploy ${dir}`, env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const lines = r.stdout.split('\n');
      const progress = lines.filter((l) => l.startsWith('rollout v'));
      assert.match(progress.at(-1) ?? '', /^rollout v\d+: 3\/3 healthy, 3 running \[succeeded\]$/, r.stdout);
      const reach = lines.slice(lines.indexOf('reach it at:') + 1).filter((l) => /^\s+http: /.test(l));
      assert.equal(reach.length, 3, r.stdout);
      const urls = reach.map((l) => /(http:\/\/\S+)/.exec(l)?.[1] ?? '');
      for (const u of urls) assert.match(await (await fetch(`${u}/`)).text(), /brand new from/);
      for (const o of old) {
        if (urls.includes(`http://${o}`)) continue; // an address handed out again, to a new task
        await assert.rejects(
          fetch(`http://${o}/`, { signal: AbortSignal.timeout(1500) }),
          `old task at ${o} answers`,
        );
      }
    });

    test('scale, restart, exec, describe, version --json and completion bash', async () => {
      const v0 = (await status()).version;
      const s = await sh('bin/dabba scale hello 4', env);
      assert.equal(s.code, 0, s.stdout + s.stderr);
      let v = await status();
      assert.equal(v.version, v0 + 1);
      assert.equal(running(v).length, 4);
      const before = new Set(running(v).map((t) => t.id));
      const rs = await sh('bin/dabba restart hello', env);
      assert.equal(rs.code, 0, rs.stdout + rs.stderr);
      v = await status();
      assert.equal(v.version, v0 + 2);
      assert.equal(running(v).length, 4);
      assert.ok(
        running(v).every((t) => !before.has(t.id)),
        'every task was replaced',
      );
      const task = running(v)[0];
      assert.ok(task);
      const ex = await sh(`bin/dabba exec ${task.id} -- sh -c 'echo out; echo err >&2; exit 3'`, env);
      assert.deepEqual([ex.code, ex.stdout, ex.stderr], [3, 'out\n', 'err\n']);
      const host = await sh(`bin/dabba exec ${task.id} -- cat /etc/hostname`, env);
      assert.equal(host.code, 0, host.stderr);
      if (driver === 'oci') assert.equal(host.stdout.trim(), task.id);
      const dj = await sh('bin/dabba describe hello', env);
      assert.equal(dj.code, 0, dj.stderr);
      assert.match(dj.stdout, /^Job: +hello$/m);
      assert.match(dj.stdout, /DABBA_RESTARTED_AT/);
      assert.match(dj.stdout, new RegExp(`deployment of v${v0 + 2} succeeded`));
      const dt = await sh(`bin/dabba describe ${task.id}`, env);
      assert.match(dt.stdout, new RegExp(`^Task: +${task.id}$`, 'm'));
      const dh = await sh(`bin/dabba describe ${task.host ?? ''}`, env);
      assert.match(dh.stdout, new RegExp(`^Runtime: +${driver}$`, 'm'));
      const ver = await sh('bin/dabba version --json', env);
      assert.equal(ver.code, 0, ver.stderr);
      const vj = JSON.parse(ver.stdout) as {
        client: { version: string };
        server: { runtimes: { runtime: string }[] };
      };
      assert.match(vj.client.version, /^\d+\.\d+\.\d+/);
      assert.deepEqual(
        vj.server.runtimes.map((r) => r.runtime),
        [driver],
      );
      const comp = await sh(
        'bin/dabba completion bash > "$OUT" && bash -c \'source "$OUT"; COMP_WORDS=(dabba res); COMP_CWORD=1; _dabba; echo "${COMPREPLY[*]}"\'',
        {
          ...env,
          OUT: join(c.dataDir, 'completion.bash'),
        },
      );
      assert.equal(comp.code, 0, comp.stderr);
      assert.equal(comp.stdout.trim(), 'restart');
      if (driver === 'oci') {
        // No host runs processes: a job file without an image is refused before anything is stored.
        const plan = await sh('bin/dabba plan examples/hello/job.yaml', env);
        assert.equal(plan.code, 1, plan.stdout + plan.stderr);
        assert.match(plan.stdout, /names no task.image/);
        const dep = await sh('bin/dabba deploy examples/hello/job.yaml', env);
        assert.equal(dep.code, 2, dep.stdout + dep.stderr);
        assert.match(dep.stderr, /add task.image/);
        assert.equal((await status()).version, v0 + 2, 'nothing stored');
      }
      assert.equal((await sh('bin/dabba stop hello', env)).code, 0);
    });
  });
}
