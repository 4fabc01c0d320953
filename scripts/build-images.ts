/**
 * Builds the small images tests and examples use, without any registry, from the host's
 * busybox-static:
 *   busybox  busybox with its applet links, /bin/sh, /etc/passwd, /etc/group, /tmp
 *   hello    busybox + /www; runs `httpd -f -p 8080 -h /www`; GET / answers "$GREETING from HOSTNAME"
 * Each is written as an OCI image layout (OUT/NAME/) and an OCI archive (OUT/NAME.tar), and with
 * --import also put into an image store directory.
 *
 * Usage: node scripts/build-images.ts --out DIR [--import STORE_DIR] [--only busybox,hello]
 *        [--busybox PATH]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BUILTIN_IMAGES, ImageStore, createBuiltinImage, type BuiltinImage } from '../src/image/index.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    import: { type: 'string' },
    only: { type: 'string' },
    busybox: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help || (!values.out && !values.import)) {
  console.log(
    'usage: node scripts/build-images.ts --out DIR [--import STORE_DIR] [--only busybox,hello] [--busybox PATH]',
  );
  process.exit(values.help ? 0 : 2);
}

const names = (values.only ?? Object.keys(BUILTIN_IMAGES).join(','))
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
for (const n of names) {
  if (!(n in BUILTIN_IMAGES)) {
    console.error(`unknown image "${n}" (known: ${Object.keys(BUILTIN_IMAGES).join(', ')})`);
    process.exit(2);
  }
}

const scratch = values.import ? undefined : await mkdtemp(join(tmpdir(), 'dabba-build-images-'));
try {
  const store = await ImageStore.open(resolve(values.import ?? join(scratch ?? '', 'store')));
  for (const n of names as BuiltinImage[]) {
    const t0 = Date.now();
    const img = await createBuiltinImage(store, n, values.busybox ? { busybox: values.busybox } : {});
    const parts = [`${img.name} ${img.digest} (${(img.size / 1024).toFixed(0)} KiB)`];
    if (values.out) {
      const out = resolve(values.out);
      await store.exportLayout([img.name], join(out, n));
      await store.exportArchive([img.name], join(out, `${n}.tar`));
      parts.push(`-> ${join(out, n)}/, ${join(out, `${n}.tar`)}`);
    }
    if (values.import) parts.push(`imported into ${resolve(values.import)}`);
    console.log(`${parts.join(' ')} in ${Date.now() - t0} ms`);
  }
} finally {
  if (scratch) await rm(scratch, { recursive: true, force: true });
}
