/**
 * Hostile images through the real path: uploaded to a real server's image store over the API (bad
 * archives are refused there with a clear code), and pulled by an agent's ImagePuller into the
 * agent's own store, where preparing the task's root filesystem refuses a layer that escapes (the
 * reason the task fails with), leaving canaries outside the store as they were. Needs root.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImagePuller } from '../../src/agent/image-puller.ts';
import { DabbaError } from '../../src/errors/index.ts';
import { ImageError, ImageStore } from '../../src/image/index.ts';
import { file, tarOf, writeDockerSave } from '../../src/image/test-fixtures.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { MiB, ociArchive, snapshot, symlink } from './hostile-fixtures.ts';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && process.env['DABBA_SKIP_OCI'] === '1' ? 'needs root (DABBA_SKIP_OCI=1)' : false;

describe('hostile images through the server and an agent', { skip }, () => {
  let dir: string;
  let server: TestServer;
  let canary: string;
  let canary0: Record<string, string>;

  before(async () => {
    assert.ok(isRoot, 'this test needs root; set DABBA_SKIP_OCI=1 to skip');
    dir = await mkdtemp(join(tmpdir(), 'dabba-hostile-api-'));
    canary = join(dir, 'canary');
    await mkdir(join(canary, 'dir'), { recursive: true });
    await writeFile(join(canary, 'dir', 'f'), 'canary');
    await chmod(join(canary, 'dir'), 0o750);
    canary0 = await snapshot(canary);
    server = await startTestServer('hostile-api', {
      images: await ImageStore.open(join(dir, 'server-images'), { limits: { maxJsonBytes: 64 * 1024 } }),
    });
  });

  after(async () => {
    try {
      await server.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  async function upload(buf: Buffer, name?: string): Promise<unknown> {
    const path = join(dir, 'upload.tar');
    await writeFile(path, buf);
    return server.client.importImage(createReadStream(path), name);
  }

  test('bad archives are refused by the server with a clear code', async () => {
    const hugeIndex = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [], x: 'a'.repeat(MiB) }));
    await assert.rejects(upload(await ociArchive(hugeIndex, []), 'huge'), (e: unknown) => {
      assert.ok(e instanceof DabbaError, String(e));
      assert.equal(e.code, 'DABBA_E_IMAGE_TOO_LARGE', e.message);
      assert.match(e.message, /index\.json.*DABBA_IMAGE_MAX_JSON_BYTES/);
      return true;
    });
    const whole = await ociArchive(Buffer.from('{"schemaVersion":2,"manifests":[]}'), [
      { hex: '0'.repeat(64), content: Buffer.alloc(3000, 1) },
    ]);
    await assert.rejects(upload(whole.subarray(0, whole.length - 2500), 'cut'), (e: unknown) => {
      assert.ok(e instanceof DabbaError, String(e));
      assert.equal(e.code, 'DABBA_E_IMAGE_INVALID', e.message);
      assert.match(e.message, /truncated/);
      return true;
    });
    const health = await fetch(`${server.server.url}/v1/health`);
    assert.equal(health.status, 200);
  });

  test('an agent pulls an escaping image; its root filesystem is refused, nothing outside changes', async () => {
    const layer = await tarOf([
      { header: { path: 'a/', type: 'directory', mode: 0o777 } },
      symlink('a', join(canary, 'dir')),
      file('a/pwned', 'x'),
    ]);
    const path = join(dir, 'evil.tar');
    await writeDockerSave(path, [layer], { repoTags: ['evil:1'] });
    await server.client.importImage(createReadStream(path));

    const agentImages = await ImageStore.open(join(dir, 'agent-images'));
    const puller = new ImagePuller(agentImages, server.client, silentLogger);
    await puller.ensure('evil:1');
    const image = await agentImages.require('evil:1');
    const taskDir = join(dir, 'task');
    await assert.rejects(agentImages.prepareRootfs(image, taskDir), (e: unknown) => {
      assert.ok(e instanceof ImageError, String(e));
      assert.equal(e.code, 'DABBA_E_IMAGE_INVALID');
      assert.match(e.message, /goes through "a", which is a symlink/);
      return true;
    });
    assert.deepEqual(await snapshot(canary), canary0, 'canaries unchanged');
    assert.deepEqual(
      (await readdir(agentImages.layers.root)).filter((n) => n.startsWith('.tmp-')),
      [],
      'nothing half-unpacked',
    );
    // The store still works for the next image.
    const good = join(dir, 'good.tar');
    await writeDockerSave(good, [await tarOf([file('ok', 'fine')])], { repoTags: ['good:1'] });
    await server.client.importImage(createReadStream(good));
    await puller.ensure('good:1');
    const dirs = await agentImages.unpack(await agentImages.require('good:1'));
    assert.equal(dirs.length, 1);
  });
});
