/**
 * Dashboards in the control plane (`/v1/boards`): create, read, list, replace with the version it
 * started from (a stale version is refused), delete; bad names and bodies refused with a clear
 * answer and nothing written; namespaces kept apart. Real server and SQLite store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DabbaClient } from '../../src/client/index.ts';
import { DabbaError } from '../../src/errors/index.ts';
import { keys, type PutBoardRequest } from '../../src/model/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';

const isCode = (code: string) => (e: unknown) => e instanceof DabbaError && e.code === code;

const BOARD: PutBoardRequest = {
  title: 'Web',
  panels: [
    {
      title: 'Requests',
      query: { name: 'http_requests_total', rate: true, by: ['task'], where: ['job=web'] },
    },
    {
      title: 'Latency p99',
      query: { name: 'http_request_duration_seconds_bucket', rate: true, by: ['le'] },
      quantile: 0.99,
    },
  ],
};

describe('boards', () => {
  let t: TestServer;
  let client: DabbaClient;

  before(async () => {
    t = await startTestServer('boards');
    client = t.client;
    await client.createNamespace('shop');
  });
  after(async () => {
    await t?.close();
  });

  test('create, read, list, replace from its version, delete', async () => {
    const made = await client.boards().put('web', BOARD);
    assert.equal(made.version, 1);
    assert.equal(made.namespace, 'default');
    assert.equal(made.author, 'admin');
    assert.deepEqual(made.panels, BOARD.panels);
    assert.deepEqual(await client.boards().get('web'), made);
    assert.deepEqual(
      (await client.boards().list()).map((b) => b.name),
      ['web'],
    );
    const stored = await t.store.get(keys.board('default', 'web'));
    assert.ok(stored, 'one store record');

    const next = await client.boards().put('web', { ...BOARD, title: 'Web 2', version: 1 });
    assert.equal(next.version, 2);
    assert.equal(next.title, 'Web 2');
    await assert.rejects(
      client.boards().put('web', { ...BOARD, title: 'stale', version: 1 }),
      isCode('DABBA_E_CONFLICT'),
    );
    assert.equal((await client.boards().get('web')).title, 'Web 2', 'the stale write changed nothing');

    assert.deepEqual(await client.boards().remove('web'), {
      name: 'web',
      namespace: 'default',
      deleted: true,
    });
    await assert.rejects(client.boards().get('web'), isCode('DABBA_E_NOT_FOUND'));
    await assert.rejects(client.boards().remove('web'), isCode('DABBA_E_NOT_FOUND'));
  });

  test('bad names and bodies are refused with what is wrong, and nothing is written', async () => {
    await assert.rejects(client.boards().put('Bad Name', BOARD), (e: unknown) => {
      assert.ok(e instanceof DabbaError);
      assert.equal(e.code, 'DABBA_E_BAD_REQUEST');
      assert.match(e.message, /not a board name/);
      return true;
    });
    const bad = { title: 'x', panels: [{ title: 'p', query: { name: 'no spaces allowed' } }] };
    await assert.rejects(client.boards().put('x', bad), (e: unknown) => {
      assert.ok(e instanceof DabbaError);
      assert.equal(e.code, 'DABBA_E_VALIDATION');
      assert.match(e.message, /panels\.0\.query\.name/);
      return true;
    });
    await assert.rejects(
      client.boards().put('x', { ...BOARD, panels: [{ ...BOARD.panels[0]!, quantile: 2 }] }),
      isCode('DABBA_E_VALIDATION'),
    );
    assert.equal((await t.store.range(keys.allBoardsPrefix)).kvs.length, 0);
  });

  test('namespaces are kept apart; * lists every namespace but cannot name one board', async () => {
    const shop = client.with({ namespace: 'shop' });
    await shop.boards().put('web', { ...BOARD, title: 'Shop web' });
    await client.boards().put('web', BOARD);
    assert.equal((await shop.boards().get('web')).title, 'Shop web');
    assert.equal((await client.boards().get('web')).title, 'Web');
    const all = client.with({ namespace: '*' });
    assert.deepEqual((await all.boards().list()).map((b) => `${b.namespace}/${b.name}`).sort(), [
      'default/web',
      'shop/web',
    ]);
    await assert.rejects(all.boards().get('web'), isCode('DABBA_E_BAD_REQUEST'));
    const viewer = (await client.createToken({ name: 'shop-viewer', role: 'viewer', namespaces: ['shop'] }))
      .token;
    const v = client.with({ token: viewer, namespace: 'shop' });
    assert.equal((await v.boards().get('web')).title, 'Shop web');
    await assert.rejects(v.boards().put('web', BOARD), isCode('DABBA_E_FORBIDDEN'));
    await assert.rejects(v.with({ namespace: 'default' }).boards().get('web'), isCode('DABBA_E_FORBIDDEN'));
    await shop.boards().remove('web');
    await client.boards().remove('web');
  });
});
