/**
 * The CLI's stored credentials (`dabba login`) belong to the person running client commands. A
 * server or an agent started by a user whose credentials file cannot be read (another user's HOME,
 * a directory in its place) starts all the same; a client command still says what is wrong.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePortBlock } from '../helpers/ports.ts';

const script = resolve('bin/dabba');

describe('stored credentials that cannot be read', () => {
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-creds-'));
    // credentials.json is a directory: reading it fails (EISDIR), even for root.
    await mkdir(join(dir, 'config', 'dabba', 'credentials.json'), { recursive: true });
    env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') };
    delete env['DABBA_TOKEN'];
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('dabba server starts and stops as usual', async () => {
    const port = await freePortBlock(1);
    const child = spawn(
      script,
      ['server', '--data-dir', join(dir, 'data'), '--listen', `127.0.0.1:${String(port)}`],
      { env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const exited = new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    try {
      await new Promise<void>((res, rej) => {
        child.stderr.on('data', (s: string) => {
          stderr += s;
          if (stderr.includes('API at')) res();
        });
        void exited.then((c) => rej(new Error(`dabba server exited with ${String(c)}: ${stderr}`)));
      });
      assert.doesNotMatch(stderr, /credentials/);
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, stderr);
  });

  test('a client command still says what is wrong with the file', () => {
    const r = spawnSync(script, ['status', '--addr', 'http://127.0.0.1:1'], { env, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cannot read .*credentials\.json: EISDIR/);
  });
});
