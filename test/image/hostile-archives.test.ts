/**
 * A corpus of hostile image archives, each imported and unpacked by a real image store: every one is
 * refused with a clear error or contained under the unpack root. Canary files and directories (known
 * modes, owners, contents, mtimes) sit outside the store, and some links point at them; after every
 * case they must be exactly as they were, and nothing half-unpacked may stay in the layer cache.
 * Needs root (whiteouts are device nodes, owners are kept); DABBA_SKIP_OCI=1 skips it elsewhere.
 */
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ImageError, ImageStore, sha256Digest, type Digest } from '../../src/image/index.ts';
import { dir, file, tarOf, writeDockerSave } from '../../src/image/test-fixtures.ts';
import type { TarWriteEntry } from '../../src/image/tar-writer.ts';
import {
  MiB,
  device,
  hardlink,
  hugePaxTar,
  ociArchive,
  snapshot,
  symlink,
  zeroBomb,
} from './hostile-fixtures.ts';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && process.env['DABBA_SKIP_OCI'] === '1' ? 'needs root (DABBA_SKIP_OCI=1)' : false;
const RAND = Math.random().toString(36).slice(2, 10);

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

type Reason = 'InvalidImage' | 'TooLarge' | 'DigestMismatch' | 'SizeMismatch';

function refusedWith(reason: Reason, pattern?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ImageError, `expected ImageError(${reason}), got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.code, reason === 'TooLarge' ? 'DABBA_E_IMAGE_TOO_LARGE' : 'DABBA_E_IMAGE_INVALID');
    if (pattern) assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /\n\s+at /, 'no stack in the message');
    return true;
  };
}

describe('hostile image archives', { skip }, () => {
  let root: string;
  let canary: string;
  let store: ImageStore;
  let before0: Record<string, string>;
  const hostTmp = join(tmpdir(), `dabba-escape-${RAND}`);

  before(async () => {
    assert.ok(isRoot, 'this test needs root (whiteouts, owners); set DABBA_SKIP_OCI=1 to skip');
    root = await mkdtemp(join(tmpdir(), 'dabba-hostile-'));
    canary = join(root, 'canary');
    await mkdir(join(canary, 'dir', 'sub'), { recursive: true });
    await writeFile(join(canary, 'file'), 'canary file');
    await writeFile(join(canary, 'dir', 'inner'), 'inner file');
    await chmod(join(canary, 'file'), 0o640);
    await chmod(join(canary, 'dir'), 0o750);
    await chmod(join(canary, 'dir', 'sub'), 0o700);
    const t = new Date('2001-02-03T04:05:06Z');
    for (const p of ['file', 'dir/inner', 'dir/sub', 'dir', '.']) await utimes(join(canary, p), t, t);
    before0 = await snapshot(canary);
    store = await ImageStore.open(join(root, 'store'), {
      limits: {
        maxLayerBytes: 64 * MiB,
        maxImageBytes: 96 * MiB,
        maxEntries: 2000,
        maxJsonBytes: 1 * MiB,
        maxMetaBytes: 64 * 1024,
      },
    });
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(hostTmp, { recursive: true, force: true });
  });

  /** After every case: canaries unchanged, nothing escaped to /tmp, no half-unpacked layer left. */
  async function checkNothingChanged(name: string): Promise<void> {
    assert.deepEqual(await snapshot(canary), before0, `${name}: the canaries changed`);
    assert.equal(await exists(hostTmp), false, `${name}: something was written to ${hostTmp}`);
    assert.deepEqual(await readdir(root), ['canary', 'store'], `${name}: files appeared beside the store`);
    const left = (await readdir(store.layers.root)).filter((n) => n.startsWith('.tmp-'));
    assert.deepEqual(left, [], `${name}: half-unpacked layers left`);
  }

  let n = 0;
  /** Imports a docker-save archive of the layers and unpacks it; returns the layer directories. */
  async function unpack(layers: (TarWriteEntry[] | Buffer)[], diffIds?: Digest[]): Promise<string[]> {
    const name = `hostile-${++n}`;
    const bufs = await Promise.all(layers.map((l) => (Buffer.isBuffer(l) ? Promise.resolve(l) : tarOf(l))));
    const path = join(root, 'store', `${name}.tar`);
    await writeDockerSave(path, bufs, { repoTags: [`${name}:latest`], ...(diffIds ? { diffIds } : {}) });
    try {
      await store.import(path);
    } finally {
      await rm(path, { force: true });
    }
    return store.unpack(await store.require(name));
  }

  const abs = (p: string): string => join(canary, p);
  // From a layer being unpacked (store/layers/.tmp-x/) three levels up is `root`.
  const up = '../../../canary';

  const refusedLayers: [string, () => TarWriteEntry[], RegExp][] = [
    [
      '(a) symlink replacing a seen directory, then a file under it',
      () => [dir('a'), file('a/x', '1'), symlink('a', abs('dir')), file('a/pwned', 'x')],
      /goes through "a", which is a symlink/,
    ],
    [
      '(a) same with a relative link target climbing out',
      () => [dir('a'), symlink('a', `${up}/dir`), file('a/pwned', 'x')],
      /symlink/,
    ],
    [
      '(a) deeper: the replaced directory is a parent of the write',
      () => [dir('a'), dir('a/b'), symlink('a', abs('dir')), dir('a/sub'), file('a/sub/pwned', 'x')],
      /symlink/,
    ],
    [
      '(c) hard link whose target goes through a symlinked parent',
      () => [symlink('s', canary), hardlink('h', 's/file')],
      /goes through "s"/,
    ],
    [
      '(c) hard link whose own path goes through a symlinked parent',
      () => [file('t', 'mine'), symlink('s', abs('dir')), hardlink('s/h', 't')],
      /goes through "s"/,
    ],
    [
      '(c) hard link through a symlinked grandparent',
      () => [dir('p'), symlink('p/q', abs('dir')), hardlink('x', 'p/q/inner')],
      /goes through "p\/q"/,
    ],
    [
      'chain of symlinks ending outside',
      () => [symlink('l1', 'l2'), symlink('l2', 'l3'), symlink('l3', abs('dir')), file('l1/pwned', 'x')],
      /goes through "l1"/,
    ],
    ['symlink to /', () => [symlink('r', '/'), file(`r${hostTmp}`, 'x')], /symlink/],
    ['symlink to ..', () => [symlink('u', '..'), file('u/pwned', 'x')], /symlink/],
    [
      'symlink to ../../..',
      () => [dir('d'), symlink('d/u', '../../..'), file('d/u/canary/pwned', 'x')],
      /symlink/,
    ],
    [
      'a link replaced twice, the second time outside',
      () => [dir('x'), symlink('x', 'elsewhere'), symlink('x', abs('dir')), file('x/pwned', 'x')],
      /symlink/,
    ],
    [
      'a directory replaced by a file, then written under',
      () => [dir('f'), file('f', 'now a file'), file('f/pwned', 'x')],
      /which is a file/,
    ],
    ['.. path', () => [file('../pwned', 'x')], /"\.\."/],
    ['.. inside a path', () => [dir('a'), file('a/../../pwned', 'x')], /"\.\."/],
    ['absolute .. path', () => [file('/../../pwned', 'x')], /"\.\."/],
    ['hard link with a .. target', () => [hardlink('h', '../canary/file')], /"\.\."/],
    [
      'hard link to a device node',
      () => [device('dev/sda', 'block', 8, 0), hardlink('disk', 'dev/sda')],
      /device/,
    ],
    ['hard link to a host device by absolute path', () => [hardlink('null', '/dev/null')], /does not exist/],
    ['hard link to a directory', () => [dir('d'), hardlink('h', 'd')], /directory/],
    ['whiteout of ..', () => [dir('a'), file('a/.wh...', '')], /whiteout|"\.\."/],
    ['whiteout under a symlink', () => [symlink('w', abs('dir')), file('w/.wh.inner', '')], /symlink/],
    [
      'opaque directory under a symlink',
      () => [symlink('o', abs('dir')), file('o/.wh..wh..opq', '')],
      /symlink/,
    ],
  ];

  for (const [name, entries, why] of refusedLayers) {
    test(`refused: ${name}`, async () => {
      await assert.rejects(unpack([entries()]), refusedWith('InvalidImage', why));
      await checkNothingChanged(name);
    });
  }

  test('(b) a directory mode and mtime are not applied through a later symlink', async () => {
    const [layer] = await unpack([
      [
        { header: { path: 'd/', type: 'directory', mode: 0o777, mtime: 12345 } },
        { header: { path: 'f/', type: 'directory', mode: 0o4777, mtime: 12345, uid: 1234 } },
        file('d/x', 'in d'),
        symlink('d', abs('dir')),
        symlink('f', abs('file')),
        { header: { path: 'g/', type: 'directory', mode: 0o777 } },
        symlink('g', `${up}/dir/sub`),
      ],
    ]);
    assert.ok(layer);
    assert.ok((await lstat(join(layer, 'd'))).isSymbolicLink());
    assert.ok((await lstat(join(layer, 'f'))).isSymbolicLink());
    await checkNothingChanged('(b)');
  });

  test('contained: a symlink replaced by a directory again is written as a directory', async () => {
    const [layer] = await unpack([[dir('x'), symlink('x', abs('dir')), dir('x'), file('x/f', 'inside')]]);
    assert.ok(layer);
    assert.equal(await readFile(join(layer, 'x/f'), 'utf8'), 'inside');
    await checkNothingChanged('relinked');
  });

  test('contained: a file entry replaces a symlink instead of writing through it', async () => {
    const [layer] = await unpack([
      [symlink('s', abs('file')), file('s', 'replaced'), symlink('t', `${up}/file`), file('t', 'again')],
    ]);
    assert.ok(layer);
    assert.equal(await readFile(join(layer, 's'), 'utf8'), 'replaced');
    assert.ok((await lstat(join(layer, 't'))).isFile());
    await checkNothingChanged('file over symlink');
  });

  test('contained: absolute paths land under the root; symlinks are stored, never followed', async () => {
    const [layer] = await unpack([
      [
        file('/abs', 'a'),
        dir('/etc'),
        file('/etc/passwd', 'root:x:0:0::/root:/bin/sh\n'),
        symlink('dev-null', '/dev/null'),
        symlink('to-root', '/'),
        symlink('to-up', '../..'),
        symlink('to-canary', abs('file')),
      ],
    ]);
    assert.ok(layer);
    assert.equal(await readFile(join(layer, 'abs'), 'utf8'), 'a');
    assert.equal(await readFile(join(layer, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
    assert.ok((await lstat(join(layer, 'dev-null'))).isSymbolicLink());
    await checkNothingChanged('absolute');
  });

  test('device nodes are not created; the rest of the layer is', async () => {
    const [layer] = await unpack([
      [dir('dev'), device('dev/mem', 'char', 1, 1), device('dev/sda', 'block', 8, 0), file('dev/keep', 'k')],
    ]);
    assert.ok(layer);
    assert.deepEqual((await readdir(join(layer, 'dev'))).sort(), ['keep']);
    await checkNothingChanged('devices');
  });

  test("a hard link into a lower layer does not follow that layer's symlinks", async () => {
    await assert.rejects(
      unpack([[symlink('etc', canary)], [hardlink('stolen', 'etc/file')]]),
      refusedWith('InvalidImage', /goes through "etc"/),
    );
    // ... and a legitimate one is copied.
    const layers = await unpack([[file('base', 'from below')], [hardlink('copy', 'base')]]);
    assert.equal(await readFile(join(layers[1] ?? '', 'copy'), 'utf8'), 'from below');
    await checkNothingChanged('lower hard link');
  });

  test('gzip bomb: 10 GiB of zeros in ~10 MB stops at the layer bound', async () => {
    const { layer } = zeroBomb(10 * 1024 * MiB);
    assert.ok(layer.length < 16 * MiB, `bomb is ${layer.length} bytes`);
    const started = Date.now();
    await assert.rejects(
      unpack([layer]),
      refusedWith('TooLarge', /maxLayerBytes.*DABBA_IMAGE_MAX_LAYER_BYTES/),
    );
    assert.ok(Date.now() - started < 60_000, 'refused without expanding it all');
    await checkNothingChanged('bomb');
  });

  test('the image bound covers the layers of one image together', async () => {
    // Each layer (48 MiB of zeros) is within the layer bound (64 MiB); together they pass 96 MiB.
    const a = zeroBomb(48 * MiB, true);
    const b = zeroBomb(48 * MiB, true);
    await assert.rejects(
      unpack([a.layer, b.layer], [a.diffId, b.diffId]),
      refusedWith('TooLarge', /maxImageBytes/),
    );
    await checkNothingChanged('image bound');
  });

  test('bounds on entries, pax headers and paths', async () => {
    const many = Array.from({ length: 2001 }, (_, i) => file(`f${i}`, ''));
    await assert.rejects(unpack([many]), refusedWith('TooLarge', /maxEntries/));
    await assert.rejects(unpack([hugePaxTar(100_000)]), refusedWith('TooLarge', /maxMetaBytes/));
    await assert.rejects(
      unpack([[file(`${'d/'.repeat(2100)}f`, 'deep')]]),
      refusedWith('TooLarge', /maxPathBytes/),
    );
    await assert.rejects(unpack([[symlink('l', 'x'.repeat(5000))]]), refusedWith('TooLarge', /maxLinkBytes/));
    await checkNothingChanged('bounds');
  });

  test('a truncated layer (plain or gzip) is refused as truncated', async () => {
    const full = await tarOf([file('a', 'x'.repeat(5000)), file('b', 'y')]);
    const cut = full.subarray(0, 2048 + 100);
    await assert.rejects(unpack([cut]), refusedWith('InvalidImage', /truncated/));
    const gz = gzipSync(full);
    await assert.rejects(
      unpack([gz.subarray(0, gz.length - 40)]),
      refusedWith('InvalidImage', /gzip|truncated/),
    );
    await checkNothingChanged('truncated');
  });

  test('a wrong digest is refused at import (plain layer) or before the layer is kept (gzip)', async () => {
    const layer = await tarOf([file('f', 'content')]);
    await assert.rejects(unpack([layer], [sha256Digest('other')]), refusedWith('DigestMismatch'));
    await assert.rejects(unpack([gzipSync(layer)], [sha256Digest('other')]), refusedWith('DigestMismatch'));
    const names = (await readdir(store.layers.root)).filter((x) => x === sha256Digest('other').slice(7));
    assert.deepEqual(names, []);
    await checkNothingChanged('digest');
  });

  test('archives: a huge index.json, a huge manifest, a blob under a wrong digest, a cut archive', async () => {
    const importBuf = async (buf: Buffer): Promise<unknown> => {
      const path = join(root, 'store', `archive-${++n}.tar`);
      await writeFile(path, buf);
      try {
        return await store.import(path, { name: `archive-${n}` });
      } finally {
        await rm(path, { force: true });
      }
    };
    const hugeIndex = Buffer.from(
      JSON.stringify({ schemaVersion: 2, manifests: [], annotations: { x: 'a'.repeat(2 * MiB) } }),
    );
    await assert.rejects(
      importBuf(await ociArchive(hugeIndex, [])),
      refusedWith('TooLarge', /index\.json.*maxJsonBytes/),
    );

    const hugeManifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, config: {}, layers: [], pad: 'b'.repeat(2 * MiB) }),
    );
    const hex = sha256Digest(hugeManifest).slice(7);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${hex}`,
            size: hugeManifest.length,
          },
        ],
      }),
    );
    await assert.rejects(
      importBuf(await ociArchive(index, [{ hex, content: hugeManifest }])),
      refusedWith('TooLarge', /maxJsonBytes/),
    );

    const lie = Buffer.from('not what the name says');
    await assert.rejects(
      importBuf(await ociArchive(index, [{ hex, content: lie }])),
      refusedWith('DigestMismatch'),
    );

    const badSchema = Buffer.from(
      JSON.stringify({ schemaVersion: 2, manifests: [{ digest: 'sha256:nothex', size: -1 }] }),
    );
    await assert.rejects(
      importBuf(await ociArchive(badSchema, [])),
      refusedWith('InvalidImage', /index\.manifests\.0\.digest/),
    );

    const whole = await ociArchive(index, [{ hex, content: hugeManifest }]);
    await assert.rejects(importBuf(whole.subarray(0, 1536 + 300)), refusedWith('InvalidImage', /truncated/));
    const gz = gzipSync(whole);
    await assert.rejects(
      importBuf(gz.subarray(0, gz.length >> 1)),
      refusedWith('InvalidImage', /gzip|truncated/),
    );
    await checkNothingChanged('archives');
  });
});
