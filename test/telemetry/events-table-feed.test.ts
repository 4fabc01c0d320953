/**
 * The `events` log table follows the store's event log: events written while the server runs arrive,
 * events written while it is down arrive after its restart, and none arrives twice.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import { shortId, silentLogger } from '../../src/lib/index.ts';
import { keys, type DabbaEvent } from '../../src/model/index.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import { SqliteStore } from '../../src/store/index.ts';
import { TEST_ADMIN_TOKEN } from '../helpers/auth.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

test('events reach the events table once each, across a server restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-events-feed-'));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  let server: RunningServer | undefined;
  let url = '';
  t.after(async () => {
    await server?.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const boot = async (): Promise<DabbaClient> => {
    server = await startServer({
      store,
      storeName: 'sqlite',
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
      auth: { adminToken: TEST_ADMIN_TOKEN },
      dataDir: join(dir, 'server'),
    });
    url = server.url;
    return new DabbaClient({ addr: url, token: TEST_ADMIN_TOKEN, namespace: '*' });
  };
  let n = 0;
  const write = async (reason: string): Promise<void> => {
    const at = Date.now() + n++;
    const id = `${at}-${shortId(6)}`;
    const e: DabbaEvent = {
      id,
      at,
      kind: 'test.exit',
      job: 'team:web',
      task: `web-${n}`,
      message: 'm',
      reason,
    };
    await store.put(keys.event(at, id.slice(-6)), JSON.stringify(e));
  };
  const rows = async (): Promise<{ id: string; reason: string }[]> => {
    const r = await client
      .queryTable('events', { where: ['kind=test.exit'], limit: 1000 })
      .catch(() => undefined);
    return (r?.rows ?? []).map((x) => ({ id: String(x['id']), reason: String(x['reason']) }));
  };

  let client = await boot();
  await write('Exited');
  await write('OOMKilled');
  await waitFor('two rows', async () => ((await rows()).length >= 2 ? true : undefined), 30_000);
  await server?.close();
  server = undefined;

  await write('Killed'); // while the server is down
  client = await boot();
  await write('LivenessFailed');
  const all = await waitFor(
    'four rows',
    async () => {
      const r = await rows();
      return r.length >= 4 ? r : undefined;
    },
    30_000,
  );
  assert.equal(all.length, 4, JSON.stringify(all));
  assert.equal(new Set(all.map((r) => r.id)).size, 4);
  assert.deepEqual(all.map((r) => r.reason).sort(), ['Exited', 'Killed', 'LivenessFailed', 'OOMKilled']);
  const team = await new DabbaClient({
    addr: url,
    token: TEST_ADMIN_TOKEN,
    namespace: 'team',
  }).queryTable('events', { where: ['kind=test.exit'], by: ['job'], agg: 'count' });
  assert.deepEqual(team.rows, [{ job: 'web', count: 4 }]);
});
