import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { formatSize, table } from '../output.ts';

async function requireKind(path: string, kind: 'file' | 'dir', what: string): Promise<void> {
  try {
    const s = await stat(path);
    if (kind === 'file' ? !s.isFile() : !s.isDirectory()) {
      throw new CliError(`${what} ${path} is not a ${kind === 'file' ? 'file' : 'directory'}`, EXIT.USAGE);
    }
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${what} ${path} does not exist`, EXIT.USAGE, { cause: e });
  }
}

/** Streams a directory as a tar archive (system tar: numeric owners, everything below DIR). */
function packDirectory(dir: string): { stream: AsyncIterable<Uint8Array>; done(): Promise<void> } {
  const tar = spawn('tar', ['-C', dir, '--numeric-owner', '-cf', '-', '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((resolve) => {
    tar.on('error', () => resolve(127));
    tar.on('close', (code) => resolve(code ?? 1));
  });
  return {
    stream: tar.stdout,
    async done() {
      const code = await exited;
      if (code !== 0)
        throw new CliError(`packing ${dir} failed: ${err.trim() || `tar exited with ${code}`}`, EXIT.FAILED);
    },
  };
}

export function imageCommand(program: Command, ctx: CliContext): void {
  const image = program.command('image').description('images: import, create from a directory, list, remove');

  image
    .command('import')
    .description('upload an OCI image (layout directory or archive) or a `docker save` tarball to the server')
    .argument('<path>', 'tar archive, or an OCI image layout directory')
    .option('--name <name>', 'name[:tag] for an image that carries no name')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (path: string, opts: { name?: string; addr?: string }) => {
      let isDir = false;
      try {
        isDir = (await stat(path)).isDirectory();
      } catch (cause) {
        throw new CliError(`image ${path} does not exist`, EXIT.USAGE, { cause });
      }
      const client = ctx.client(opts.addr);
      if (!isDir) {
        const r = await client.importImage(createReadStream(path), opts.name);
        for (const i of r) ctx.out.write(`imported ${i.name} ${i.digest}\n`);
        return;
      }
      const tar = packDirectory(path);
      const r = await client.importImage(tar.stream, opts.name);
      await tar.done();
      for (const i of r) ctx.out.write(`imported ${i.name} ${i.digest}\n`);
    });

  image
    .command('create')
    .description('pack a root filesystem directory as a one-layer OCI image on the server')
    .argument('<name>', 'name[:tag]')
    .requiredOption('--from-dir <dir>', 'the root filesystem')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (name: string, opts: { fromDir: string; addr?: string }) => {
      await requireKind(opts.fromDir, 'dir', 'directory');
      const tar = packDirectory(opts.fromDir);
      const r = await ctx.client(opts.addr).createImage(name, tar.stream);
      await tar.done();
      ctx.out.write(`created ${r.name} ${r.digest}\n`);
    });

  image
    .command('ls')
    .description('images the server has')
    .option('--json', 'machine-readable output')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (opts: { json?: boolean; addr?: string }) => {
      const list = await ctx.client(opts.addr).listImages();
      if (opts.json) return ctx.out.write(JSON.stringify(list, null, 2) + '\n');
      if (list.length === 0) return ctx.out.write('no images (import one: dabba image import FILE)\n');
      ctx.out.write(
        table(
          ['NAME', 'DIGEST', 'SIZE', 'LAYERS'],
          list.map((i) => [i.name, i.digest.slice(0, 19), formatSize(i.size), String(i.layers)]),
        ),
      );
    });

  image
    .command('rm')
    .description('remove an image from the server: its name, and the content nothing else uses')
    .argument('<name>', 'NAME[:TAG] (see dabba image ls)')
    .option('--force', 'remove it even if a live job uses it (hosts that have it keep their copy)')
    .option('--json', 'machine-readable output')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (name: string, opts: { force?: boolean; json?: boolean; addr?: string }) => {
      const r = await ctx.client(opts.addr).removeImage(name, opts.force ? { force: true } : {});
      if (opts.json) return ctx.out.write(JSON.stringify(r, null, 2) + '\n');
      ctx.out.write(
        `removed ${r.name} ${r.digest.slice(0, 19)}: freed ${formatSize(r.bytesFreed)} (${r.blobsRemoved} blobs, ${r.layersRemoved} unpacked layers)\n`,
      );
    });
}
