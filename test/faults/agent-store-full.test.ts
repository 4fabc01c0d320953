/**
 * The agent's own writes on a full data dir (a real tmpfs): an image pull from a real server fails
 * with a clear reason (RuntimeError, reason DiskFull, naming the image and the directory) and works
 * once there is room; a task's state file that cannot be written is kept in memory (reads see it)
 * and written by itself once there is room.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ImagePuller } from '../../src/agent/image-puller.ts';
import { TaskStateFiles } from '../../src/agent/task-state-file.ts';
import { RuntimeError } from '../../src/errors/index.ts';
import { ImageStore } from '../../src/image/index.ts';
import { file, tarOf, writeDockerSave } from '../../src/image/test-fixtures.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { Tmpfs } from '../helpers/tmpfs.ts';

let t: TestServer;
let serverImages: string;
const mounts: Tmpfs[] = [];
before(async () => {
  serverImages = await mkdtemp(join(tmpdir(), 'dabba-server-images-'));
  t = await startTestServer('agent-store-full', { images: await ImageStore.open(serverImages) });
});
after(async () => {
  for (const m of mounts) await m.destroy();
  await t.close();
  await rm(serverImages, { recursive: true, force: true });
});

async function tmpfs(size: string): Promise<Tmpfs> {
  const m = await Tmpfs.mount(size);
  mounts.push(m);
  return m;
}

test('an image pull on a full disk fails with a clear reason, and works once there is room', async () => {
  // 2 MB that do not compress: more than the full disk takes.
  const layer = await tarOf([file('srv/data', randomBytes(1536 * 1024).toString('base64'))]);
  const archive = join(t.dir, 'big.tar');
  await writeDockerSave(archive, [layer], { repoTags: ['big:1'], cmd: ['sleep', '1000'] });
  await t.client.importImage(createReadStream(archive));

  const fs = await tmpfs('4m');
  const store = await ImageStore.open(join(fs.dir, 'images'));
  const puller = new ImagePuller(store, t.client, silentLogger);
  await fs.fill('filler');
  await assert.rejects(puller.ensure('big:1'), (e: unknown) => {
    assert.ok(e instanceof RuntimeError, String(e));
    assert.equal(e.details['reason'], 'DiskFull');
    assert.match(
      e.message,
      new RegExp(`could not store image "big:1" on this host: no space left in ${fs.dir}`),
    );
    return true;
  });
  assert.equal(await store.get('big:1'), undefined, 'nothing half-stored is taken for the image');

  await fs.remount('size=64m');
  await puller.ensure('big:1');
  assert.ok(await store.get('big:1'));
});

test('a task state file that cannot be written is kept in memory and written once there is room', async () => {
  const fs = await tmpfs('1m');
  const files = new TaskStateFiles(fs.dir, silentLogger);
  await files.write('before', { restarts: 1 });
  await fs.fill('filler');
  await files.write('t1', { restarts: 3, healthySince: 42 });
  assert.deepEqual(files.unwritten(), ['t1']);
  assert.deepEqual(await files.read('t1'), { restarts: 3, healthySince: 42 }, 'reads see it meanwhile');
  await assert.rejects(readFile(join(fs.dir, 'tasks', 't1.json')), 'not on the disk yet');

  await fs.remount('size=8m');
  await waitFor('written by itself', () => (files.unwritten().length === 0 ? true : undefined), 30_000);
  assert.deepEqual(JSON.parse(await readFile(join(fs.dir, 'tasks', 't1.json'), 'utf8')), {
    restarts: 3,
    healthySince: 42,
  });
});
