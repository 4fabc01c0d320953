/**
 * pullFrom over a real HTTP server serving another store (what an HTTP ImageSource looks like),
 * digest verification, and resuming partial downloads within one pull and across pulls.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ImageError,
  ImageStore,
  createBuiltinImage,
  isDigest,
  type Digest,
  type ImageInfo,
  type ImageSource,
} from './index.ts';

/** The server side: GET /manifests/REF and GET /blobs/DIGEST with Range: bytes=N-. */
function serve(store: ImageStore): Server {
  return createServer((req, res) => {
    void (async (): Promise<void> => {
      const url = new URL(req.url ?? '/', 'http://x');
      const [, kind, ref] = url.pathname.split('/').map(decodeURIComponent);
      if (kind === 'manifests' && ref) {
        const m = await store.getManifest(ref);
        if (!m) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': m.mediaType, 'docker-content-digest': m.digest });
        res.end(m.bytes);
        return;
      }
      if (kind === 'blobs' && ref && isDigest(ref)) {
        const size = await store.blobSize(ref);
        if (size === undefined) {
          res.writeHead(404).end();
          return;
        }
        const offset = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
        res.writeHead(offset ? 206 : 200, { 'content-length': size - offset });
        (await store.readBlob(ref, offset)).pipe(res);
        return;
      }
      res.writeHead(404).end();
    })().catch(() => res.destroy());
  });
}

/** The client side: all an HTTP source needs. */
function httpSource(base: string): ImageSource {
  return {
    async manifest(ref) {
      const res = await fetch(`${base}/manifests/${encodeURIComponent(ref)}`);
      if (!res.ok) throw new Error(`manifest ${ref}: HTTP ${res.status}`);
      const digest = res.headers.get('docker-content-digest');
      const mediaType = res.headers.get('content-type');
      return {
        bytes: new Uint8Array(await res.arrayBuffer()),
        ...(digest ? { digest } : {}),
        ...(mediaType ? { mediaType } : {}),
      };
    },
    async blob(digest, offset) {
      const res = await fetch(`${base}/blobs/${digest}`, {
        headers: offset ? { range: `bytes=${offset}-` } : {},
      });
      if (!res.ok || !res.body) throw new Error(`blob ${digest}: HTTP ${res.status}`);
      return res.body;
    },
  };
}

/** Wraps a source: records blob offsets; cuts the first transfer of `cut` after `after` bytes. */
function flaky(
  inner: ImageSource,
  cut: { digest?: Digest; after: number; times: number },
  offsets: Map<string, number[]>,
): ImageSource {
  return {
    manifest: (ref) => inner.manifest(ref),
    async blob(digest, offset) {
      offsets.set(digest, [...(offsets.get(digest) ?? []), offset]);
      const body = await inner.blob(digest, offset);
      if (digest !== cut.digest || cut.times <= 0) return body;
      cut.times--;
      return (async function* () {
        let sent = 0;
        for await (const chunk of body) {
          const room = cut.after - sent;
          if (room <= 0) break;
          const part = chunk.subarray(0, room);
          sent += part.length;
          yield part;
        }
        throw new Error('connection reset (test)');
      })();
    },
  };
}

describe('pullFrom', () => {
  let root: string;
  let origin: ImageStore;
  let server: Server;
  let base: string;
  let img: ImageInfo;
  let layer: { digest: Digest; size: number };
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dabba-pull-test-'));
    origin = await ImageStore.open(join(root, 'origin'));
    img = await createBuiltinImage(origin, 'hello');
    const l = img.manifest.layers[0];
    assert.ok(l);
    layer = l;
    server = serve(origin);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.close();
    await rm(root, { recursive: true, force: true });
  });
  let n = 0;
  const fresh = (): Promise<ImageStore> => ImageStore.open(join(root, `dest-${n++}`));

  test('fetches manifest, config and layers over HTTP, verified; a second pull fetches nothing', async () => {
    const dest = await fresh();
    const offsets = new Map<string, number[]>();
    const src = flaky(httpSource(base), { after: 0, times: 0 }, offsets);
    const got = await dest.pullFrom(src, 'hello');
    assert.equal(got.name, 'hello:latest');
    assert.equal(got.digest, img.digest);
    assert.deepEqual(offsets.get(layer.digest), [0]);
    assert.equal(await dest.hasBlob(layer.digest), true);
    assert.equal(await dest.hasBlob(img.configDigest), true);
    offsets.clear();
    await dest.pullFrom(src, 'hello:latest');
    assert.equal(offsets.size, 0, 'blobs already present are not fetched again');
    await assert.rejects(dest.pullFrom(src, 'nothere'), /HTTP 404/);
  });

  test('a cut transfer resumes from where it stopped, within one pull', async () => {
    const dest = await fresh();
    const offsets = new Map<string, number[]>();
    const src = flaky(httpSource(base), { digest: layer.digest, after: 300_000, times: 1 }, offsets);
    await dest.pullFrom(src, 'hello', { retries: 2 });
    assert.deepEqual(offsets.get(layer.digest), [0, 300_000]);
    assert.equal(await dest.blobSize(layer.digest), layer.size);
    assert.deepEqual(await readdir(join(dest.dir, 'ingest')), []);
  });

  test('a failed pull keeps its partial download and the next pull resumes it', async () => {
    const dest = await fresh();
    const offsets = new Map<string, number[]>();
    const cut = { digest: layer.digest, after: 200_000, times: 1 };
    await assert.rejects(
      dest.pullFrom(flaky(httpSource(base), cut, offsets), 'hello', { retries: 0 }),
      /connection reset/,
    );
    assert.equal(await dest.get('hello'), undefined);
    assert.equal(await dest.blobs.partialSize(layer.digest), 200_000);
    await dest.pullFrom(flaky(httpSource(base), cut, offsets), 'hello', { retries: 0 });
    assert.deepEqual(offsets.get(layer.digest), [0, 200_000]);
    assert.equal((await dest.get('hello'))?.digest, img.digest);
  });

  test('tampered content is refused: nothing stored, partial data discarded', async () => {
    const dest = await fresh();
    const honest = httpSource(base);
    const tampering: ImageSource = {
      manifest: (ref) => honest.manifest(ref),
      async blob(digest, offset) {
        const body = await honest.blob(digest, offset);
        if (digest !== layer.digest) return body;
        return (async function* () {
          let first = true;
          for await (const chunk of body) {
            const c = Buffer.from(chunk);
            if (first && c.length > 0) c[0] = (c[0] ?? 0) ^ 1;
            first = false;
            yield c;
          }
        })();
      },
    };
    await assert.rejects(dest.pullFrom(tampering, 'hello'), (e: unknown) => {
      assert.ok(e instanceof ImageError);
      assert.equal(e.reason, 'DigestMismatch');
      return true;
    });
    assert.equal(await dest.hasBlob(layer.digest), false);
    assert.equal(await dest.blobs.partialSize(layer.digest), 0);
    assert.equal(await dest.get('hello'), undefined);

    const lying: ImageSource = {
      async manifest(ref) {
        const m = await honest.manifest(ref);
        return { ...m, digest: `sha256:${'0'.repeat(64)}` };
      },
      blob: (d, o) => honest.blob(d, o),
    };
    await assert.rejects(
      dest.pullFrom(lying, 'hello'),
      (e: unknown) => e instanceof ImageError && e.reason === 'DigestMismatch',
    );
  });
});
