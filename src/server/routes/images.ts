/**
 * Images: each server replica keeps an image store; `dabba image import|create` upload into the
 * replica asked, which records the image in the store's catalog (every replica then serves it, see
 * ../images/shared-images.ts), and agents fetch what they lack (content-addressed blobs, verified
 * by digest, resumable with Range). A request from another replica (PEER_HEADER) is answered from
 * this replica's own store only.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { spawn } from 'node:child_process';
import { DabbaError, NotFoundError, ValidationError } from '../../errors/index.ts';
import { ImageError, isDigest } from '../../image/index.ts';
import { PEER_HEADER } from '../images/peer-source.ts';
import type { SharedImages } from '../images/shared-images.ts';
import { BODY_IDLE_MS, contentTypeOf } from '../http/body.ts';
import type { Router } from '../http/router.ts';
import type { EventLog } from '../state/events.ts';

/** Uploads may be large; they stream to disk, never into memory. */
const MAX_UPLOAD_BYTES = 16 * 1024 ** 3;

async function receiveUpload(req: IncomingMessage, dir: string): Promise<string> {
  const type = contentTypeOf(req);
  if (
    !['application/x-tar', 'application/octet-stream', 'application/gzip', 'application/x-gzip'].includes(
      type,
    )
  ) {
    throw new DabbaError(
      'DABBA_E_UNSUPPORTED_MEDIA_TYPE',
      `image uploads are tar archives (Content-Type: application/x-tar), got ${type === '' ? 'no Content-Type' : `"${type}"`}`,
    );
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > MAX_UPLOAD_BYTES) {
    throw new DabbaError('DABBA_E_BODY_TOO_LARGE', `image upload larger than ${MAX_UPLOAD_BYTES} bytes`);
  }
  const file = join(dir, 'upload.tar');
  let size = 0;
  // An upload that stops sending is abandoned after BODY_IDLE_MS without a byte.
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(
      () =>
        req.destroy(
          new DabbaError(
            'DABBA_E_REQUEST_TIMEOUT',
            `the image upload stopped arriving (${BODY_IDLE_MS / 1000} s)`,
          ),
        ),
      BODY_IDLE_MS,
    );
    timer.unref();
  };
  arm();
  req.on('data', (c: Buffer) => {
    size += c.length;
    arm();
    if (size > MAX_UPLOAD_BYTES)
      req.destroy(new DabbaError('DABBA_E_BODY_TOO_LARGE', 'image upload too large'));
  });
  try {
    await pipeline(req, createWriteStream(file));
  } finally {
    clearTimeout(timer);
  }
  return file;
}

/** An image refused for its content keeps its own code (DABBA_E_IMAGE_INVALID, _TOO_LARGE...). */
function imageFailure(e: unknown): unknown {
  if (e instanceof ImageError && e.httpStatus >= 500) {
    return new ValidationError(e.message, [{ path: 'image', message: e.message }], { cause: e });
  }
  return e;
}

function untar(file: string, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('tar', ['-x', '--no-same-owner', '-f', file, '-C', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new ValidationError(`the uploaded directory is not a valid tar archive: ${err.trim()}`, [
              { path: 'body', message: err.trim() },
            ]),
          ),
    );
  });
}

export function imageRoutes(router: Router, shared: SharedImages, events: EventLog): void {
  const images = shared.local;
  router.on('GET', '/v1/images', () => shared.list());

  router.on(
    'POST',
    '/v1/images/import',
    async ({ req, query }) => {
      const dir = await mkdtemp(join(tmpdir(), 'dabba-upload-'));
      try {
        const file = await receiveUpload(req, dir);
        const name = query.get('name');
        const imported = await images.importArchive(file, name ? { name } : {}).catch((e: unknown) => {
          throw imageFailure(e);
        });
        for (const i of imported) await shared.publish(i);
        await events.append(
          imported.map((i) => ({ kind: 'ImageImported', message: `image ${i.name} imported (${i.digest})` })),
        );
        return imported.map((i) => ({ name: i.name, digest: i.digest }));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    201,
  );

  router.on(
    'POST',
    '/v1/images/create',
    async ({ req, query }) => {
      const name = query.get('name');
      if (!name) throw new DabbaError('DABBA_E_BAD_REQUEST', 'name is required (?name=NAME[:TAG])');
      const dir = await mkdtemp(join(tmpdir(), 'dabba-upload-'));
      try {
        const file = await receiveUpload(req, dir);
        const root = join(dir, 'rootfs');
        await mkdir(root);
        await untar(file, root);
        const info = await images.createFromDir(name, root).catch((e: unknown) => {
          throw imageFailure(e);
        });
        await shared.publish(info);
        await events.append([
          { kind: 'ImageCreated', message: `image ${info.name} created (${info.digest})` },
        ]);
        return { name: info.name, digest: info.digest };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    201,
  );

  router.on('GET', '/v1/images/manifests/:ref', async ({ params, req, res }) => {
    const ref = params['ref'] ?? '';
    const m =
      req.headers[PEER_HEADER] !== undefined ? await images.getManifest(ref) : await shared.manifest(ref);
    if (!m) throw new NotFoundError('image', ref);
    res.writeHead(200, {
      'content-type': m.mediaType,
      'content-length': m.bytes.length,
      'docker-content-digest': m.digest,
    });
    res.end(m.bytes);
    return undefined;
  });

  router.on('GET', '/v1/images/blobs/:digest', async ({ params, req, res, signal }) => {
    const digest = params['digest'] ?? '';
    if (!isDigest(digest)) throw new DabbaError('DABBA_E_BAD_REQUEST', `"${digest}" is not a sha256 digest`);
    const fromPeers = req.headers[PEER_HEADER] === undefined;
    if (fromPeers && !(await shared.ensureBlob(digest))) throw new NotFoundError('blob', digest);
    const size = await images.blobSize(digest);
    if (size === undefined) throw new NotFoundError('blob', digest);
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const offset = range ? Number(range[1]) : 0;
    if (offset > size)
      throw new DabbaError('DABBA_E_BAD_REQUEST', `range starts past the blob's end (${size} bytes)`);
    const stream = await images.readBlob(digest, offset);
    res.writeHead(range ? 206 : 200, {
      'content-type': 'application/octet-stream',
      'content-length': size - offset,
      ...(range ? { 'content-range': `bytes ${offset}-${size - 1}/${size}` } : {}),
    });
    await pipeline(stream, res, { signal }).catch(() => undefined);
    return undefined;
  });
}
