/**
 * Log tables end to end on `dabba dev` with containers, through the CLI: a task that allocates past
 * its memory limit is OOM-killed and `dabba table query events --where reason=OOMKilled` finds it
 * (and a viewer of another namespace does not); a task printing JSON lines is grouped by one of its
 * fields (`--by level --agg count`), its other lines are rows with a `message`; a service's own rows
 * written through the API are aggregated with percentiles.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LogTableQueryResult } from '../../src/model/index.ts';
import type { DevCluster } from '../helpers/dev-cluster.ts';
import { cli, waitFor } from '../helpers/dev-cluster.ts';
import { destroyOciDev, ociForTests, startOciDev } from '../helpers/oci-dev.ts';

const { skip: skip } = await ociForTests();

// tail keeps the current line in memory; /dev/zero has no newline, so it grows until killed.
const OOM = `name: hog
replicas: 1
task:
  image: busybox
  command: ["tail", "/dev/zero"]
  resources: { cpu: 0.1, memory: 32Mi, pids: 16 }
  restart: { policy: never }
`;

const script = [
  'for i in 1 2 3 4 5 6; do echo "{\\"level\\":\\"info\\",\\"n\\":$i,\\"latencyMs\\":$((i * 10))}"; done',
  'echo \'{"level":"error","n":7,"latencyMs":700}\' >&2',
  'echo "plain text, not JSON"',
  'exec sleep 3600',
].join('; ');
const JSONLOG = `name: chatty
replicas: 1
task:
  image: busybox
  command: ${JSON.stringify(['sh', '-c', script])}
  resources: { cpu: 0.1, memory: 32Mi, pids: 16 }
  stopGracePeriod: 1s
`;

describe('log tables with containers', { skip }, () => {
  let c: DevCluster;
  let network = '';

  before(async () => {
    ({ c, network } = await startOciDev());
  });
  after(async () => {
    await destroyOciDev(c, network);
  });

  async function query(args: string[], env?: Record<string, string>): Promise<LogTableQueryResult> {
    const r =
      env === undefined
        ? await c.cli(['table', 'query', ...args, '--json'])
        : await cli(['table', 'query', ...args, '--json'], { addr: c.url, env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return JSON.parse(r.stdout) as LogTableQueryResult;
  }

  test('dabba table query events --where reason=OOMKilled finds the OOM kill', async () => {
    await writeFile(join(c.dataDir, 'hog.yaml'), OOM);
    const deployed = await c.cli(['deploy', join(c.dataDir, 'hog.yaml'), '--detach']);
    assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
    const found = await waitFor(
      'the OOM kill in the events table',
      async () => {
        const r = await query(['events', '--where', 'reason=OOMKilled']).catch(() => undefined);
        return r?.rows.find((row) => row['job'] === 'hog');
      },
      90_000,
      500,
    );
    assert.equal(found['kind'], 'task.exited');
    assert.equal(found['exit_code'], 137);
    assert.equal(found['namespace'], 'default');
    assert.match(String(found['task']), /^hog-/);
    assert.match(String(found['message']), /OOMKilled/);

    const text = await c.cli(['table', 'query', 'events', '--where', 'reason=OOMKilled']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /REASON/);
    assert.match(text.stdout, /task\.exited.*OOMKilled/);
    const counted = await query([
      'events',
      '--where',
      'kind=task.exited',
      '--by',
      'reason',
      '--agg',
      'count',
    ]);
    assert.ok(
      counted.rows.some((r) => r['reason'] === 'OOMKilled' && Number(r['count']) >= 1),
      JSON.stringify(counted),
    );

    // A viewer of another namespace sees none of default's rows.
    assert.equal((await c.cli(['namespace', 'create', 'other'])).code, 0);
    const tok = await c.cli(['token', 'create', 'other-viewer', '--role', 'viewer', '--namespace', 'other']);
    assert.equal(tok.code, 0, tok.stderr);
    const env = { DABBA_TOKEN: tok.stdout.trim(), XDG_CONFIG_HOME: join(c.dataDir, 'no-config') };
    const theirs = await query(['events', '--where', 'reason=OOMKilled', '-n', 'other'], env);
    assert.deepEqual(theirs.rows, []);
    const refused = await cli(['table', 'query', 'events', '-n', 'default'], { addr: c.url, env });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /FORBIDDEN|not allowed|namespace/i);
  });

  test("a task's JSON lines are grouped by one of their fields; other lines are a message", async () => {
    await writeFile(join(c.dataDir, 'chatty.yaml'), JSONLOG);
    const deployed = await c.cli(['deploy', join(c.dataDir, 'chatty.yaml')]);
    assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
    const grouped = await waitFor(
      'the task lines in tasklogs',
      async () => {
        const r = await query([
          'tasklogs',
          '--where',
          'job=chatty',
          '--by',
          'level',
          '--agg',
          'count,max(n)',
        ]).catch(() => undefined);
        return r && r.rows.reduce((s, row) => s + Number(row['count']), 0) >= 8 ? r : undefined;
      },
      60_000,
      500,
    );
    assert.deepEqual(grouped.rows, [
      { level: 'info', count: 6, 'max(n)': 6 },
      { level: 'error', count: 1, 'max(n)': 7 },
      { level: null, count: 1, 'max(n)': null },
    ]);
    const plain = await query(['tasklogs', '--where', 'job=chatty', '--where', 'message~^plain']);
    assert.equal(plain.rows.length, 1);
    assert.equal(plain.rows[0]?.['stream'], 'stdout');
    assert.match(String(plain.rows[0]?.['task']), /^chatty-/);
    const stderr = await query([
      'tasklogs',
      '--where',
      'job=chatty',
      '--where',
      'stream=stderr',
      '--agg',
      'sum(latency_ms)',
    ]);
    assert.deepEqual(stderr.rows, [{ 'sum(latency_ms)': 700 }]);
    const text = await c.cli([
      'table',
      'query',
      'tasklogs',
      '--where',
      'job=chatty',
      '--by',
      'level',
      '--agg',
      'count',
    ]);
    assert.match(text.stdout, /^LEVEL\s+COUNT\ninfo\s+6\n/);
  });

  test("a service's own rows through the API: columns discovered, percentiles, bad input refused", async () => {
    const rows = Array.from({ length: 100 }, (_, i) => ({ route: i % 2 ? '/a' : '/b', latency_ms: i + 1 }));
    const put = await c.api('POST', '/v1/tables/requests/rows?namespace=default', { rows });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const r = await query(['requests', '--by', 'route', '--agg', 'count,p50(latency_ms),max(latency_ms)']);
    assert.deepEqual(r.rows, [
      { route: '/a', count: 50, 'p50(latency_ms)': 51, 'max(latency_ms)': 100 },
      { route: '/b', count: 50, 'p50(latency_ms)': 50, 'max(latency_ms)': 99 },
    ]);
    const own = await c.api('POST', '/v1/tables/events/rows', { rows: [{ reason: 'OOMKilled' }] });
    assert.equal(own.status, 403, JSON.stringify(own.body));
    const notRows = await c.api('POST', '/v1/tables/requests/rows', { rows: ['x'] });
    assert.equal(notRows.status, 400);
    const injected = await c.cli(['table', 'query', 'requests', '--by', 'route;drop table requests']);
    assert.notEqual(injected.code, 0);
    assert.match(injected.stderr, /not a column name/);
    const ls = await c.cli(['table', 'ls', '--json']);
    const names = (JSON.parse(ls.stdout) as { name: string }[]).map((t) => t.name);
    assert.deepEqual(names, ['events', 'requests', 'tasklogs']);
  });
});
