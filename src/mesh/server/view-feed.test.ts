import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemClock } from '../../lib/index.ts';
import { keys, type HostMeshView } from '../../model/index.ts';
import { SqliteStore } from '../../store/index.ts';
import { hostMeshView } from './host-view.ts';
import { applyMesh } from './versions.ts';
import { HostViewFeed, jobOfKey } from './view-feed.ts';

test('the key of a task or its status names its job', () => {
  assert.equal(jobOfKey(keys.task('web', 'web-1')), 'web');
  assert.equal(jobOfKey(keys.status('ns:api', 'api-2')), 'ns:api');
  assert.equal(jobOfKey(keys.host('h1')), undefined);
});

test('one incremental view for every follower, equal to a full read after each change', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-view-feed-'));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  const stop = new AbortController();
  const feed = new HostViewFeed(store);
  const followers = [feed.follow(stop.signal), feed.follow(stop.signal)];
  try {
    const meta = { author: 'test', message: 'test' };
    await applyMesh(
      store,
      { services: { a: { upstreams: {} }, b: { upstreams: {} } } } as never,
      meta,
      systemClock,
    );
    await store.put(keys.host('h1'), JSON.stringify({ id: 'h1', agentUrl: 'https://10.1.0.1:7000' }));
    const task = (job: string, id: string): string => JSON.stringify({ id, job, desired: 'run', version: 1 });
    const ready = (job: string, id: string): string =>
      JSON.stringify({
        id,
        job,
        host: 'h1',
        state: 'running',
        ready: true,
        healthy: true,
        restarts: 0,
        address: '10.88.0.2',
        ports: {},
        updatedAt: 1,
      });
    await store.put(keys.task('a', 'a-1'), task('a', 'a-1'));

    const next = async (): Promise<HostMeshView[]> =>
      Promise.all(followers.map(async (f) => (await f.next()).value as HostMeshView));
    const same = async (views: HostMeshView[]): Promise<void> => {
      const full = await hostMeshView(store);
      for (const v of views) {
        const { revision: _r, ...got } = v;
        const { revision: _f, ...want } = full;
        assert.deepEqual(got, want);
      }
    };

    let views = await next();
    await same(views);
    assert.deepEqual(views[0]?.endpoints, { a: [], b: [] });

    // A task of a job the file does not name changes nothing; one of a named job does.
    await store.put(keys.task('c', 'c-1'), task('c', 'c-1'));
    await store.put(keys.status('c', 'c-1'), ready('c', 'c-1'));
    await store.put(keys.status('a', 'a-1'), ready('a', 'a-1'));
    views = await next();
    await same(views);
    assert.equal(views[0]?.endpoints['a']?.[0]?.task, 'a-1');
    assert.deepEqual(views[0]?.hosts, { h1: '10.1.0.1' });

    // The task leaves (stopping): gone from the view.
    await store.put(
      keys.task('a', 'a-1'),
      JSON.stringify({ id: 'a-1', job: 'a', desired: 'stop', version: 1 }),
    );
    views = await next();
    await same(views);
    assert.deepEqual(views[0]?.endpoints['a'], []);

    // A new dependency file: read in full.
    await applyMesh(
      store,
      { services: { b: { upstreams: {} }, c: { upstreams: {} } } } as never,
      meta,
      systemClock,
    );
    views = await next();
    await same(views);
    assert.deepEqual(Object.keys(views[0]?.endpoints ?? {}).sort(), ['b', 'c']);
    assert.equal(views[0]?.endpoints['c']?.[0]?.task, 'c-1');
  } finally {
    stop.abort();
    await Promise.all(followers.map((f) => f.return(undefined)));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
