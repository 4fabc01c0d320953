/**
 * The config store on both Store implementations (SQLite, and a real one-member etcd cluster):
 * versions, racing writers, revert, inline contents served by a second replica without its own
 * blobs, schemas; and the JSON syntax checker agreeing with JSON.parse on arbitrary texts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { BlobStore } from '../../image/index.ts';
import { ManualClock } from '../../lib/index.ts';
import { SqliteStore, type Store } from '../../store/index.ts';
import { EtcdStore } from '../../store/etcd/index.ts';
import { etcdSkip, startEtcdCluster } from '../../../test/helpers/etcd-cluster.ts';
import { ConfigStore } from './config-store.ts';
import { jsonSyntaxError } from './json-syntax.ts';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-configstore-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function exercise(t: TestContext, store: Store): Promise<void> {
  const dir = await tempDir(t);
  const blobs = new BlobStore(join(dir, 'blobs'));
  await blobs.init();
  const clock = new ManualClock(1_000);
  const configs = new ConfigStore(store, clock, blobs);
  const ns = 'default';

  // Versions from 1, per path.
  const v1 = await configs.put({
    namespace: ns,
    path: 'a/b.json',
    content: Buffer.from('{"x":1}'),
    author: 'me',
    message: 'one',
  });
  assert.equal(v1.config.version, 1);
  clock.advance(10);
  const v2 = await configs.put({
    namespace: ns,
    path: 'a/b.json',
    content: Buffer.from('{"x":2}'),
    author: 'me',
    message: 'two',
  });
  assert.equal(v2.config.version, 2);
  assert.equal(v2.config.at, 1_010);
  assert.equal(
    (
      await configs.put({
        namespace: ns,
        path: 'a/c.txt',
        content: Buffer.from('c'),
        author: 'me',
        message: '',
      })
    ).config.version,
    1,
  );

  // Ten writers racing on one path: ten versions, 3..12, none lost, none twice.
  const raced = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      configs.put({
        namespace: ns,
        path: 'a/b.json',
        content: Buffer.from(`{"x":${i + 10}}`),
        author: `w${i}`,
        message: '',
      }),
    ),
  );
  assert.deepEqual(
    raced.map((r) => r.config.version).sort((p, q) => p - q),
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  );
  const history = await configs.history(ns, 'a/b.json');
  assert.deepEqual(
    history.map((v) => v.version),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  );

  // Revert: the old content as a new version.
  const r = await configs.revert(ns, 'a/b.json', 1, 'me');
  assert.equal(r.config.version, 13);
  assert.equal(r.config.revertOf, 1);
  assert.equal((await configs.content(r.config)).toString(), '{"x":1}');

  // A second replica without a blob store of its own serves the inline content from the store.
  const other = new ConfigStore(store, clock);
  assert.equal((await other.content(await other.latest(ns, 'a/b.json'))).toString(), '{"x":1}');

  // A schema refuses before anything is stored.
  await configs.put({
    namespace: ns,
    path: 'a/_schema.json',
    content: Buffer.from('{"type":"object","required":["x"]}'),
    author: 'me',
    message: '',
  });
  await assert.rejects(
    configs.put({
      namespace: ns,
      path: 'a/b.json',
      content: Buffer.from('{"y":1}'),
      author: 'me',
      message: '',
    }),
    (e: Error & { code?: string }) => e.code === 'DABBA_E_VALIDATION',
  );
  assert.equal((await configs.latest(ns, 'a/b.json')).version, 13);
  assert.deepEqual(
    (await configs.list(ns, 'a/')).map((v) => v.path),
    ['a/_schema.json', 'a/b.json', 'a/c.txt'],
  );
  assert.deepEqual(await configs.list('other'), []);
}

describe('config store', () => {
  test('on SQLite', async (t) => {
    const dir = await tempDir(t);
    const store = await SqliteStore.open(join(dir, 'store.db'));
    t.after(() => store.close());
    await exercise(t, store);
  });

  test('on etcd', { skip: etcdSkip(), timeout: 120_000 }, async (t) => {
    const cluster = await startEtcdCluster({ members: 1 });
    t.after(() => cluster.stop());
    const store = await EtcdStore.connect(cluster.endpoints, { namespace: `/cfg-${process.pid}` });
    t.after(() => store.close());
    await exercise(t, store);
  });
});

describe('JSON syntax checker', () => {
  test('finds an error exactly when JSON.parse refuses, on arbitrary and near-JSON texts', () => {
    const nearJson = fc
      .tuple(
        fc.json(),
        fc.nat(),
        fc.constantFrom('', ',', '}', ']', '"', ':', 'x', '\\', ' ', '\n', '01', '-'),
      )
      .map(([text, at, insert]) => {
        const i = text.length === 0 ? 0 : at % text.length;
        return text.slice(0, i) + insert + text.slice(i);
      });
    fc.assert(
      fc.property(fc.oneof(fc.json(), nearJson, fc.string()), (text) => {
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        const found = jsonSyntaxError(text);
        assert.equal(found === undefined, parses, `${JSON.stringify(text)}: ${JSON.stringify(found)}`);
        if (found) assert.ok(found.offset >= 0 && found.offset <= text.length);
      }),
      { numRuns: 3000 },
    );
  });
});
