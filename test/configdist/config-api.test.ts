/**
 * The versioned config store through the real API and CLI (a real server on SQLite, its blob store
 * on disk): versions from 1 per path, history with author and message, revert as a new version,
 * resumable content, a bad JSON/YAML config or one that fails its folder's schema refused with
 * line:column and nothing stored, namespaces kept apart, every change audited.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import { DabbaError } from '../../src/errors/index.ts';
import { keys } from '../../src/model/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { TEST_CONFIG_HOME } from '../helpers/auth.ts';

async function refusal(p: Promise<unknown>): Promise<DabbaError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DabbaError) return e;
    throw e;
  }
  assert.fail('expected a refusal');
}

type Issue = { file?: string; line?: number; column?: number; message: string; path: string };
const issuesOf = (e: DabbaError): Issue[] => e.details['issues'] as Issue[];

describe('config store (API and CLI)', () => {
  let t: TestServer;
  let admin: DabbaClient;
  let blobs: string;

  before(async () => {
    blobs = await mkdtemp(join(tmpdir(), 'dabba-config-blobs-'));
    t = await startTestServer('configs', { configDir: blobs });
    admin = t.client;
    await admin.createNamespace('a');
    await admin.createNamespace('b');
  });
  after(async () => {
    try {
      await t.close();
    } finally {
      await rm(blobs, { recursive: true, force: true });
    }
  });

  /** The real CLI as a child process (async: the server runs in this process). */
  async function cli(
    args: string[],
    token = t.adminToken,
  ): Promise<{ code: number; out: string; err: string }> {
    try {
      const r = await promisify(execFile)(resolve('bin/dabba'), args, {
        encoding: 'utf8',
        env: {
          ...process.env,
          DABBA_ADDR: t.server.url,
          DABBA_TOKEN: token,
          XDG_CONFIG_HOME: TEST_CONFIG_HOME,
        },
        timeout: 60_000,
      });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
    }
  }

  test('versions count from 1 per path; history keeps author and message; same content stores nothing', async () => {
    const api = admin.configs();
    const v1 = await api.put('app/settings.json', Buffer.from('{"level": 1}\n'), 'first');
    assert.equal(v1.changed, true);
    assert.equal(v1.config.version, 1);
    assert.equal(v1.config.author, 'admin');
    const again = await api.put('app/settings.json', Buffer.from('{"level": 1}\n'), 'same again');
    assert.equal(again.changed, false);
    assert.equal(again.config.version, 1);
    const v2 = await api.put('app/settings.json', Buffer.from('{"level": 2}\n'), 'second');
    assert.equal(v2.config.version, 2);
    const other = await api.put('app/other.yaml', Buffer.from('a: 1\n'), 'another path');
    assert.equal(other.config.version, 1);
    const history = await api.history('app/settings.json');
    assert.deepEqual(
      history.map((v) => [v.version, v.message, v.author]),
      [
        [1, 'first', 'admin'],
        [2, 'second', 'admin'],
      ],
    );
    assert.equal((await api.content('app/settings.json', 1)).bytes.toString(), '{"level": 1}\n');
    const latest = await api.content('app/settings.json');
    assert.equal(latest.version, 2);
    assert.equal(latest.bytes.toString(), '{"level": 2}\n');
    assert.deepEqual(
      (await api.list('app/')).map((v) => [v.path, v.version]),
      [
        ['app/other.yaml', 1],
        ['app/settings.json', 2],
      ],
    );
  });

  test('revert stores the old content as a new version', async () => {
    const api = admin.configs();
    await api.put('rev/x.json', Buffer.from('{"v": "one"}'), 'one');
    await api.put('rev/x.json', Buffer.from('{"v": "two"}'), 'two');
    const r = await api.revert('rev/x.json', 1);
    assert.equal(r.config.version, 3);
    assert.equal(r.config.revertOf, 1);
    assert.equal((await api.content('rev/x.json')).bytes.toString(), '{"v": "one"}');
    const missing = await refusal(api.revert('rev/x.json', 9));
    assert.equal(missing.code, 'DABBA_E_NOT_FOUND');
  });

  test('content is resumable from an offset and carries its version and digest', async () => {
    const api = admin.configs();
    const big = Buffer.alloc(600 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
    const r = await api.put('blobs/big.bin', big, 'large, beyond the inline limit: on disk');
    const s = await api.contentStream('blobs/big.bin', { offset: 1000 });
    const chunks: Buffer[] = [];
    for await (const c of s.body) chunks.push(Buffer.from(c));
    assert.equal(s.version, 1);
    assert.equal(s.digest, r.config.digest);
    assert.equal(s.size, big.length);
    assert.ok(Buffer.concat(chunks).equals(big.subarray(1000)));
  });

  test('bad JSON, bad YAML and content failing its schema are refused with line:column; nothing is stored', async () => {
    const api = admin.configs();
    const configKeys = async (): Promise<number> => {
      let n = 0;
      for (const prefix of ['/configs/', '/configversions/', '/configblobs/'])
        n += (await t.store.range(prefix)).kvs.length;
      return n;
    };
    const before0 = await configKeys();
    const bad = await refusal(
      api.put('app/broken.json', Buffer.from('{\n  "a": 1,\n  "b": \n}\n'), 'broken'),
    );
    assert.equal(bad.code, 'DABBA_E_VALIDATION');
    const [i1] = issuesOf(bad);
    assert.equal(i1?.file, 'app/broken.json');
    assert.deepEqual([i1?.line, i1?.column], [4, 1]);
    const yaml = await refusal(api.put('app/broken.yaml', Buffer.from('a: 1\nb: [1, 2\n'), 'broken'));
    assert.equal(issuesOf(yaml)[0]?.file, 'app/broken.yaml');
    assert.ok((issuesOf(yaml)[0]?.line ?? 0) >= 2);
    assert.equal(await configKeys(), before0, 'a refused config wrote nothing to the store');

    const schema = {
      type: 'object',
      properties: { port: { type: 'integer', minimum: 1, maximum: 65535 }, name: { type: 'string' } },
      required: ['port'],
    };
    await api.put('svc/_schema.json', Buffer.from(JSON.stringify(schema)), 'schema for svc/');
    const badSchema = await refusal(api.put('svc/_schema.json', Buffer.from('{"type": 12}'), 'not a schema'));
    assert.equal(badSchema.code, 'DABBA_E_VALIDATION');
    await api.put('svc/ok.json', Buffer.from('{"port": 80}'), 'fits');
    const before1 = await configKeys();
    const failing = await refusal(
      api.put('svc/ok.json', Buffer.from('{\n  "name": "x",\n  "port": 70000\n}\n'), 'port too high'),
    );
    const [i2] = issuesOf(failing);
    assert.equal(i2?.path, 'port');
    assert.deepEqual([i2?.file, i2?.line, i2?.column], ['svc/ok.json', 3, 11]);
    assert.match(i2?.message ?? '', /svc\/_schema\.json/);
    const yamlFailing = await refusal(api.put('svc/deep/w.yaml', Buffer.from('name: w\n'), 'no port'));
    assert.equal(issuesOf(yamlFailing)[0]?.line, 1);
    assert.equal(await configKeys(), before1, 'a config failing its schema wrote nothing');
    assert.equal((await api.get('svc/ok.json')).version, 1);
    assert.equal(
      (await t.store.range(keys.configVersionsPrefix('default', 'svc/deep/w.yaml'))).kvs.length,
      0,
    );
  });

  test('bad paths are refused', async () => {
    for (const p of ['/abs.json', 'a//b', '../x', 'a/.hidden', 'a@b']) {
      const e = await refusal(admin.configs().put(p, Buffer.from('x'), 'bad path'));
      assert.equal(e.code, 'DABBA_E_VALIDATION', p);
    }
  });

  test('namespaces keep configs apart: a viewer of a reads only a; a writer of a cannot write b', async () => {
    await admin.with({ namespace: 'b' }).configs().put('secret/key.txt', Buffer.from('b only'), 'b');
    await admin.with({ namespace: 'a' }).configs().put('public/x.txt', Buffer.from('a'), 'a');
    const view = await admin.createToken({ name: 'cfg-view-a', role: 'viewer', namespaces: ['a'] });
    const dep = await admin.createToken({ name: 'cfg-dep-a', role: 'deployer', namespaces: ['a'] });
    const viewerA = new DabbaClient({ addr: t.server.url, token: view.token, namespace: 'a' });
    assert.deepEqual(
      (await viewerA.configs().list()).map((v) => v.path),
      ['public/x.txt'],
    );
    assert.equal(
      (await refusal(viewerA.with({ namespace: 'b' }).configs().content('secret/key.txt'))).code,
      'DABBA_E_FORBIDDEN',
    );
    assert.equal(
      (await refusal(viewerA.configs().put('public/x.txt', Buffer.from('no'), 'no'))).code,
      'DABBA_E_FORBIDDEN',
    );
    const deployerA = new DabbaClient({ addr: t.server.url, token: dep.token, namespace: 'a' });
    const w = await deployerA.configs().put('public/x.txt', Buffer.from('a2'), 'by the deployer');
    assert.equal(w.config.author, 'cfg-dep-a');
    assert.equal(
      (
        await refusal(
          deployerA.with({ namespace: 'b' }).configs().put('secret/key.txt', Buffer.from('x'), 'x'),
        )
      ).code,
      'DABBA_E_FORBIDDEN',
    );
    assert.equal((await admin.configs().list('public/')).length, 0, 'default does not see a');
  });

  test('every change is audited', async () => {
    const since = Date.now() - 60_000;
    await admin.configs().put('audit/me.txt', Buffer.from('x'), 'audited');
    await admin.configs().revert('audit/me.txt', 1);
    const deadline = Date.now() + 30_000;
    let rows: { route?: string; method?: string }[] = [];
    while (Date.now() < deadline) {
      rows = await admin.audit(since);
      if (rows.some((r) => r.route === 'POST /v1/configs/:path/revert')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(
      rows.some((r) => r.route === 'PUT /v1/configs/:path'),
      JSON.stringify(rows.slice(-5)),
    );
    assert.ok(rows.some((r) => r.route === 'POST /v1/configs/:path/revert'));
  });

  test('the CLI: put, get, ls, history, diff, revert, status; a refusal names file:line:column', async () => {
    const file = join(t.dir, 'cli.json');
    await writeFile(file, '{\n  "a": 1,\n  "b": 2\n}\n');
    let r = await cli(['config', 'put', 'cli/c.json', file, '--message', 'from the CLI']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /stored cli\/c\.json version 1/);
    await writeFile(file, '{\n  "a": 1,\n  "b": 3\n}\n');
    assert.equal((await cli(['config', 'put', 'cli/c.json', file, '--message', 'b to 3'])).code, 0);
    r = await cli(['config', 'get', 'cli/c.json', '--version', '1']);
    assert.equal(r.out, '{\n  "a": 1,\n  "b": 2\n}\n');
    r = await cli(['config', 'diff', 'cli/c.json']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^--- cli\/c\.json@1\n\+\+\+ cli\/c\.json@2\n@@ -1,4 \+1,4 @@\n/);
    assert.match(r.out, /\n- {2}"b": 2\n\+ {2}"b": 3\n/);
    r = await cli(['config', 'history', 'cli/c.json']);
    assert.match(r.out, /from the CLI/);
    assert.match(r.out, /b to 3/);
    r = await cli(['config', 'ls', 'cli/']);
    assert.match(r.out, /cli\/c\.json +2 /);
    r = await cli(['config', 'revert', 'cli/c.json', '--to', '1']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /version 3 \(content of version 1\)/);
    r = await cli(['config', 'status', 'cli/c.json', '--json']);
    assert.equal((JSON.parse(r.out) as { latest: { version: number } }).latest.version, 3);
    await writeFile(file, '{\n  "a": 1,\n  "b": ,\n}\n');
    r = await cli(['config', 'put', 'cli/c.json', file, '--message', 'broken']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /cli\/c\.json:3:8/);
    assert.equal((await admin.configs().get('cli/c.json')).version, 3);
  });
});
