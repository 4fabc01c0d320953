/** The `dabba` entry point as a user's shell meets it: through symlinks, and with its output cut short. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

const script = resolve('bin/dabba');

describe('bin/dabba', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-entry-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('works through a symlink in a PATH directory, and through a chain of links', async () => {
    await symlink(script, join(dir, 'dabba'));
    await symlink(join(dir, 'dabba'), join(dir, 'dabba2'));
    for (const name of ['dabba', 'dabba2']) {
      const r = spawnSync(name, ['--help'], {
        cwd: tmpdir(),
        env: { ...process.env, PATH: `${dir}:${process.env['PATH'] ?? ''}` },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, `${name} --help: ${r.stderr}`);
      assert.match(r.stdout, /Usage: dabba/);
    }
  });

  test('keeps compiled modules in the compile cache (by default under TMPDIR), unless turned off', async () => {
    /** The files in the compile cache after one `dabba --help` with TMPDIR=`tmp` and `extra`. */
    const cachedAfterRun = async (tmp: string, extra: NodeJS.ProcessEnv): Promise<number> => {
      // Nothing inherited decides for the CLI (the test runner sets NODE_COMPILE_CACHE).
      const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, ...extra };
      if (!('NODE_COMPILE_CACHE' in extra)) delete env['NODE_COMPILE_CACHE'];
      if (!('NODE_DISABLE_COMPILE_CACHE' in extra)) delete env['NODE_DISABLE_COMPILE_CACHE'];
      await mkdir(tmp, { recursive: true });
      const r = spawnSync(script, ['--help'], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const entries = await readdir(join(tmp, 'node-compile-cache'), {
        recursive: true,
        withFileTypes: true,
      }).catch(() => []);
      return entries.filter((e) => e.isFile()).length;
    };
    // The CLI's own modules and those of the libraries it loads: dozens of entries.
    assert.ok((await cachedAfterRun(join(dir, 'tmp-on'), {})) > 20, 'the cache is on by default');
    assert.equal(await cachedAfterRun(join(dir, 'tmp-off'), { NODE_DISABLE_COMPILE_CACHE: '1' }), 0);
  });

  test('a command that reads no file loads neither the file formats (zod, yaml) nor the daemons', async () => {
    // A module hook (Node's synchronous loader hooks) lists every module the CLI loads.
    const list = join(dir, 'modules.txt');
    const hook = join(dir, 'list-modules.mjs');
    await writeFile(
      hook,
      `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ load(url, context, next) { appendFileSync(${JSON.stringify(list)}, url + '\\n'); return next(url, context); } });
`,
    );
    const loaded = async (args: string[]): Promise<string[]> => {
      await rm(list, { force: true });
      const r = spawnSync(process.execPath, ['--import', hook, resolve('src/bin/dabba.ts'), ...args], {
        encoding: 'utf8',
      });
      assert.equal(r.error, undefined);
      return (await readFile(list, 'utf8')).split('\n').filter((u) => u !== '');
    };
    const heavy = [
      '/node_modules/zod/',
      '/node_modules/yaml/',
      '/src/runtime/',
      '/src/image/',
      '/src/server/',
    ];
    const status = await loaded(['status', '--addr', 'http://127.0.0.1:1']);
    assert.ok(
      status.some((u) => u.includes('/src/client/')),
      'the hook saw the CLI load',
    );
    for (const part of heavy) {
      assert.deepEqual(
        status.filter((u) => u.includes(part)),
        [],
        `dabba status loads nothing under ${part}`,
      );
    }
    // A command that reads a job file loads the formats when it reads it.
    const job = join(dir, 'job.yaml');
    await writeFile(job, 'name: x\n');
    const plan = await loaded(['plan', job, '--addr', 'http://127.0.0.1:1']);
    assert.ok(
      plan.some((u) => u.includes('/node_modules/zod/')),
      'dabba plan FILE loads zod',
    );
    assert.ok(
      plan.some((u) => u.includes('/node_modules/yaml/')),
      'dabba plan FILE loads yaml',
    );
  });

  test('output cut short (EPIPE) ends quietly: no stack, exit 141 like a Unix tool', async () => {
    const child = spawn(script, ['--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the CLI writes anything
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    assert.equal(stderr, '', 'nothing on stderr');
    assert.equal(code, 141);
  });
});
