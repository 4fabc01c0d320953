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

export function imageCommand(program: Command, ctx: CliContext): void {
  const image = program.command('image').description('images: import, create from a directory, list');

  image
    .command('import')
    .description('upload an OCI image (layout archive) or a `docker save` tarball to the server')
    .argument('<file>', 'tar archive')
    .option('--name <name>', 'name[:tag] for an archive that names no image')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (file: string, opts: { name?: string; addr?: string }) => {
      await requireKind(file, 'file', 'image archive');
      const r = await ctx.client(opts.addr).importImage(createReadStream(file), opts.name);
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
      const tar = spawn('tar', ['-C', opts.fromDir, '--numeric-owner', '-cf', '-', '.'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number>((resolve) => tar.on('close', (code) => resolve(code ?? 1)));
      const r = await ctx.client(opts.addr).createImage(name, tar.stdout);
      if ((await exited) !== 0)
        throw new CliError(`packing ${opts.fromDir} failed: ${err.trim()}`, EXIT.FAILED);
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
}
