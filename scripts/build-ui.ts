/**
 * Builds the web UI (web/) into web/dist: one minified ES module and one stylesheet, named by their
 * content hash (served as immutable), and index.html pointing at them (served as no-cache). Runs from
 * `npm ci`/`npm install` (the `prepare` script), so `npm start` serves the UI with no extra step;
 * nothing is fetched at run time. The client's node-only parts (TLS dispatcher, exec upgrade) are
 * swapped for their browser variants (src/client/*.browser.ts).
 *
 *   node scripts/build-ui.ts [--out DIR]
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** src/client/X.ts -> src/client/X.browser.ts for the modules that have a browser variant. */
const browserVariants: Plugin = {
  name: 'dabba-browser-variants',
  setup(b) {
    b.onResolve({ filter: /\/(tls|exec-upgrade)\.ts$/ }, (args) => {
      const file = resolve(args.resolveDir, args.path);
      if (dirname(file) !== join(root, 'src', 'client')) return undefined;
      return { path: file.replace(/\.ts$/, '.browser.ts') };
    });
    // Anything else node-only reaching the bundle is a layering bug: say which import brought it.
    b.onResolve({ filter: /^(node:|undici$|pino$)/ }, (args) => ({
      errors: [
        { text: `${args.path} is node-only and cannot be in the web UI (imported by ${args.importer})` },
      ],
    }));
  },
};

export async function buildUi(outDir = join(root, 'web', 'dist')): Promise<{ js: string; css: string }> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(root, 'web', 'src', 'main.tsx'), join(root, 'web', 'src', 'styles.css')],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120', 'firefox121', 'safari17'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    outdir: outDir,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [browserVariants],
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((f) => f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  if (js === undefined || css === undefined)
    throw new Error(`build made ${outputs.join(', ')}: no .js or .css`);
  const template = await readFile(join(root, 'web', 'index.html'), 'utf8');
  await writeFile(
    join(outDir, 'index.html'),
    template.replace('%APP_JS%', `/ui/${js}`).replace('%APP_CSS%', `/ui/${css}`),
  );
  return { js, css };
}

if (import.meta.main) {
  const i = process.argv.indexOf('--out');
  const out = i >= 0 ? process.argv[i + 1] : undefined;
  const { js, css } = await buildUi(out === undefined ? undefined : resolve(out));
  process.stdout.write(`web UI built: ${js}, ${css}\n`);
}
