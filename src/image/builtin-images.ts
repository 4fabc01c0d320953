/**
 * The small images tests and examples use, built from the host's busybox-static without any
 * registry:
 *  - busybox: busybox with its applet links, /bin/sh, /etc/passwd, /etc/group, /tmp, ...
 *  - hello:   busybox plus /www, served by `httpd -f -p 8080 -h /www`; GET / runs
 *             /www/cgi-bin/index.cgi, answering "$GREETING from $(hostname)".
 */
import { execFile } from 'node:child_process';
import { access, chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { constants } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { isDynamicElf } from '../lib/index.ts';
import { ImageError } from './errors.ts';
import type { CreateImageOptions } from './create-from-dir.ts';
import type { ImageInfo } from './types.ts';

const run = promisify(execFile);

export const HELLO_PORT = 8080;

/** Where busybox is: $DABBA_BUSYBOX, else the first `busybox` on PATH (or /bin, /usr/bin). */
export async function findBusybox(): Promise<string> {
  const env = process.env['DABBA_BUSYBOX'];
  const candidates = env ? [env] : [];
  for (const d of [...(process.env['PATH'] ?? '').split(delimiter), '/bin', '/usr/bin']) {
    if (d) candidates.push(join(d, 'busybox'));
  }
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new ImageError('InvalidImage', 'busybox not found (install busybox-static or set DABBA_BUSYBOX)');
}

/** Writes a busybox root filesystem into `dir` (which should be empty). */
export async function buildBusyboxRootfs(dir: string, busybox?: string): Promise<void> {
  const bb = busybox ?? (await findBusybox());
  if (await isDynamicElf(bb)) {
    throw new ImageError(
      'InvalidImage',
      `${bb} is dynamically linked; install busybox-static (or set DABBA_BUSYBOX)`,
    );
  }
  for (const d of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'etc',
    'dev',
    'proc',
    'sys',
    'run',
    'var/log',
    'home',
    'root',
    'tmp',
  ]) {
    await mkdir(join(dir, d), { recursive: true, mode: 0o755 });
  }
  await chmod(join(dir, 'tmp'), 0o1777);
  await chmod(join(dir, 'root'), 0o700);
  await copyFile(bb, join(dir, 'bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
  const { stdout } = await run(bb, ['--list-full']);
  for (const applet of stdout.split('\n').map((l) => l.trim())) {
    if (!applet || !applet.includes('/') || applet === 'bin/busybox') continue;
    await mkdir(join(dir, dirname(applet)), { recursive: true, mode: 0o755 });
    await symlink('/bin/busybox', join(dir, applet)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
  await symlink('/bin/busybox', join(dir, 'bin/sh')).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  await writeFile(
    join(dir, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  await writeFile(join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  await writeFile(join(dir, 'etc/hostname'), 'busybox\n');
  await writeFile(join(dir, 'etc/hosts'), '127.0.0.1 localhost\n');
  await writeFile(join(dir, 'etc/resolv.conf'), '');
}

export const HELLO_CGI = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "\${GREETING:-hello} from $(hostname)"
`;

/** busybox plus the hello service under /www. */
export async function buildHelloRootfs(dir: string, busybox?: string): Promise<void> {
  await buildBusyboxRootfs(dir, busybox);
  await mkdir(join(dir, 'www/cgi-bin'), { recursive: true, mode: 0o755 });
  await writeFile(join(dir, 'www/cgi-bin/index.cgi'), HELLO_CGI, { mode: 0o755 });
  await chmod(join(dir, 'www/cgi-bin/index.cgi'), 0o755);
}

/** Fixed times make the builtin images reproducible: the same busybox gives the same digests. */
const EPOCH = new Date('2024-01-01T00:00:00Z');
const FIXED = { owner: { uid: 0, gid: 0 }, mtime: EPOCH, created: EPOCH };

/** Image config for each builtin image. */
export const BUILTIN_IMAGES: Record<
  'busybox' | 'hello',
  { build: (dir: string, busybox?: string) => Promise<void>; options: CreateImageOptions }
> = {
  busybox: { build: buildBusyboxRootfs, options: { cmd: ['sh'], ...FIXED } },
  hello: {
    build: buildHelloRootfs,
    options: {
      cmd: ['httpd', '-f', '-p', String(HELLO_PORT), '-h', '/www'],
      env: { GREETING: 'hello' },
      exposedPorts: [HELLO_PORT],
      ...FIXED,
    },
  },
};

export type BuiltinImage = keyof typeof BUILTIN_IMAGES;

/** Builds a builtin image into `store` as NAME:latest (rootfs assembled in a temporary directory). */
export async function createBuiltinImage(
  store: { createFromDir(name: string, dir: string, options?: CreateImageOptions): Promise<ImageInfo> },
  image: BuiltinImage,
  options: { name?: string; busybox?: string } = {},
): Promise<ImageInfo> {
  const tmp = await mkdtemp(join(tmpdir(), `dabba-${image}-`));
  try {
    const spec = BUILTIN_IMAGES[image];
    await spec.build(tmp, options.busybox);
    return await store.createFromDir(options.name ?? image, tmp, spec.options);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
