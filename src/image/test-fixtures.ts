/**
 * Test fixtures for the image store: layer tars and `docker save` archives built in memory from
 * entries (busybox from the host's busybox-static), so tests need no registry. Not used at runtime.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { buildBusyboxRootfs } from './builtin-images.ts';
import { sha256Digest, type Digest } from './digest.ts';
import { directoryEntries, writeTar, type TarWriteEntry } from './tar-writer.ts';

export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

export function tarOf(entries: TarWriteEntry[]): Promise<Buffer> {
  return collect(writeTar(entries));
}

export function file(path: string, content: string, mode = 0o644): TarWriteEntry {
  return { header: { path, type: 'file', mode }, body: Buffer.from(content) };
}

export function dir(path: string, mode = 0o755): TarWriteEntry {
  return { header: { path: path.endsWith('/') ? path : `${path}/`, type: 'directory', mode } };
}

/** A busybox root filesystem as one layer tar (owned by root). */
export async function busyboxLayer(): Promise<Buffer> {
  const tmp = await mkdtemp(join(tmpdir(), 'dabba-bb-'));
  try {
    await buildBusyboxRootfs(tmp);
    return await collect(writeTar(directoryEntries(tmp, { owner: { uid: 0, gid: 0 } })));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export interface DockerSaveOptions {
  repoTags?: string[];
  /** Override the diff ids written in the config (to test verification). */
  diffIds?: Digest[];
  cmd?: string[];
  gzip?: boolean;
}

/** Writes a `docker save`-style archive (legacy layout: <id>/layer.tar, <config>.json, manifest.json). */
export async function writeDockerSave(
  path: string,
  layers: Buffer[],
  o: DockerSaveOptions = {},
): Promise<void> {
  const diffIds = o.diffIds ?? layers.map((l) => sha256Digest(l));
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
      os: 'linux',
      config: {
        Cmd: o.cmd ?? ['sh'],
        Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'FROM_IMAGE=yes'],
        WorkingDir: '/',
      },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const configName = `${sha256Digest(config).slice(7)}.json`;
  const entries: TarWriteEntry[] = [];
  const layerPaths: string[] = [];
  for (const [i, l] of layers.entries()) {
    const id = sha256Digest(`layer-${i}-${sha256Digest(l)}`).slice(7);
    entries.push(dir(id), file(`${id}/VERSION`, '1.0'), file(`${id}/json`, JSON.stringify({ id })));
    entries.push({ header: { path: `${id}/layer.tar`, type: 'file' }, body: l });
    layerPaths.push(`${id}/layer.tar`);
  }
  entries.push(file(configName, config.toString()));
  entries.push(
    file(
      'manifest.json',
      JSON.stringify([{ Config: configName, RepoTags: o.repoTags ?? null, Layers: layerPaths }]),
    ),
  );
  entries.push(file('repositories', '{}'));
  const source = Readable.from(writeTar(entries));
  if (o.gzip) await pipeline(source, createGzip(), createWriteStream(path));
  else await pipeline(source, createWriteStream(path));
}
