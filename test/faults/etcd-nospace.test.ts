/**
 * The etcd store on a full etcd (a real one with a 1 MiB --quota-backend-bytes): once etcd raises its
 * NOSPACE alarm, a write fails with DABBA_E_STORAGE_FULL (507) naming the alarm and what to do;
 * reads go on; after etcd's own procedure (compact, defragment, `etcdctl alarm disarm`) the same
 * store writes again without reconnecting, every acknowledged write is there, no refused one is.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { DabbaError } from '../../src/errors/index.ts';
import { EtcdStore } from '../../src/store/etcd/index.ts';
import { etcdSkip, startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

const run = promisify(execFile);
const skip = etcdSkip();

describe('etcd NOSPACE', { skip }, () => {
  let cluster: EtcdCluster | undefined;
  let store: EtcdStore | undefined;
  before(async () => {
    cluster = await startEtcdCluster({ members: 1, extraArgs: [`--quota-backend-bytes=${1024 * 1024}`] });
    store = await EtcdStore.connect(cluster.endpoints);
  });
  after(async () => {
    await store?.close();
    await cluster?.stop();
  });

  async function etcdctl(...args: string[]): Promise<string> {
    const { stdout } = await run('etcdctl', [`--endpoints=${cluster!.endpoints.join(',')}`, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    return stdout;
  }

  test(
    'writes refused with 507 and what to do; reads go on; writes resume after the alarm is disarmed',
    { timeout: 120_000 },
    async () => {
      const s = store!;
      const value = randomBytes(24 * 1024).toString('base64'); // incompressible
      const acknowledged: string[] = [];
      let refused: unknown;
      for (let i = 0; i < 400 && refused === undefined; i++) {
        const key = `/k/${String(i).padStart(4, '0')}`;
        try {
          await s.put(key, value);
          acknowledged.push(key);
        } catch (e) {
          refused = e;
        }
      }
      assert.ok(refused instanceof DabbaError, `a write is refused (${String(refused)})`);
      assert.equal(refused.code, 'DABBA_E_STORAGE_FULL');
      assert.equal(refused.httpStatus, 507);
      assert.match(refused.message, /NOSPACE alarm; compact, defragment, then "etcdctl alarm disarm"/);
      assert.ok(acknowledged.length > 3, `some writes fit first (${acknowledged.length})`);
      assert.match(await etcdctl('alarm', 'list'), /NOSPACE/);

      // Reads go on; writes stay refused.
      const { kvs } = await s.range('/k/');
      assert.deepEqual(
        kvs.map((kv) => kv.key),
        acknowledged,
      );
      await assert.rejects(s.put('/k/again', value), { code: 'DABBA_E_STORAGE_FULL' });

      // etcd's procedure: free the old revisions, give the space back, disarm.
      // (etcd takes deletes while the alarm is raised.)
      for (const key of acknowledged.slice(0, -2)) await s.delete(key);
      await etcdctl('compact', String((await s.range('/k/')).revision));
      await etcdctl('defrag');
      await etcdctl('alarm', 'disarm');
      const rev = await waitFor('writes resume', async () => (await s.put('/k/after', 'x')).revision);
      assert.ok(rev > 0);
      const keys = (await s.range('/k/')).kvs.map((kv) => kv.key);
      assert.equal(keys.includes('/k/again'), false, 'a refused write left nothing behind');
      assert.deepEqual(
        keys,
        [...acknowledged.slice(-2), '/k/after'],
        'the acknowledged writes not deleted are there',
      );
    },
  );
});
