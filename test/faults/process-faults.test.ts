/**
 * The daemons' process-wide fault policy, on a real `dabba server` in a child process: an error on
 * a stream nobody listens to and an unhandled rejection are logged, counted in /v1/health and
 * survived; a programming error (a TypeError thrown from a timer) is logged at fatal and ends the
 * process with status 70, not silently.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO, waitFor } from '../helpers/dev-cluster.ts';
import { ServerProc } from './server-proc.ts';

let dir: string;
let s: ServerProc | undefined;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dabba-faults-'));
});
after(async () => {
  await s?.stop();
  await rm(dir, { recursive: true, force: true });
});

test(
  'stream errors and rejections are logged, counted and survived; a bug exits 70',
  { timeout: 60_000 },
  async () => {
    s = await ServerProc.start([join(REPO, 'test', 'faults', 'fixtures', 'fault-injector.ts'), dir], [], dir);
    const server = s;
    assert.equal((await server.health()).faults['uncaughtExceptions'], 0);

    server.send('stream');
    await waitFor('the stream error counted', async () =>
      (await server.health()).faults['uncaughtExceptions'] === 1 ? true : undefined,
    );
    await waitFor('logged', () =>
      /"level":50.*injected stream error.*uncaught I\/O error/.test(server.output) ? true : undefined,
    );
    server.send('reject');
    await waitFor('the rejection counted', async () =>
      (await server.health()).faults['unhandledRejections'] === 1 ? true : undefined,
    );
    await waitFor('logged', () =>
      /"level":50.*injected rejection.*unhandled promise rejection/.test(server.output) ? true : undefined,
    );
    assert.ok(server.alive);
    const jobs = await fetch(`${server.url}/v1/jobs`, { headers: await server.auth() });
    assert.equal(jobs.status, 200, 'still serving');

    server.send('bug');
    const code = await server.exited;
    assert.equal(code, 70);
    await waitFor('logged', () =>
      /"level":60.*injected programming error.*programming error/.test(server.output) ? true : undefined,
    );
  },
);
