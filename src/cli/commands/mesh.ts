import type { Command } from 'commander';
import { type MeshChange, type MeshConfig } from '../../model/index.ts';
import { CliError } from '../cli-error.ts';
import { fileFormats, invalidFile, readUserFile, toYaml } from '../file-loader.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { ago, table } from '../output.ts';
import { meshStatsCommand } from './mesh-stats.ts';

/** Reads and validates a dependency file; every problem at once, with file:line:column. */
async function loadMeshFile(path: string): Promise<{ config: MeshConfig; value: unknown }> {
  const { parseMeshFile } = await fileFormats();
  const r = parseMeshFile(await readUserFile(path, 'dependency file'), path);
  if (!r.ok) throw invalidFile(path, 'dependency file', r.issues);
  return { config: r.config, value: r.value };
}

const show = (v: unknown): string => (v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v));

/** One line per change: `~ front upstreams.back.timeout: 3s -> 5s`. */
export function formatChanges(changes: readonly MeshChange[]): string {
  if (changes.length === 0) return 'no changes\n';
  return changes
    .map((c) => {
      const where = c.setting === '' ? c.service : `${c.service} ${c.setting}`;
      if (c.kind === 'added') return `+ ${where}${c.setting === '' ? ' (new service)' : `: ${show(c.to)}`}`;
      if (c.kind === 'removed')
        return `- ${where}${c.setting === '' ? ' (service removed)' : ` (was ${show(c.from)})`}`;
      return `~ ${where}: ${show(c.from)} -> ${show(c.to)}`;
    })
    .map((l) => `${l}\n`)
    .join('');
}

export function meshCommand(program: Command, ctx: CliContext): void {
  const mesh = program.command('mesh').description('the dependency file: who may call whom, and how');

  mesh
    .command('diff')
    .description('what applying FILE would change, per service and per setting (defaults filled in)')
    .argument('<file>', 'dependency file (YAML)')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { addr?: string; json?: boolean }) => {
      const { config } = await loadMeshFile(file);
      const current = await ctx.client(opts.addr).mesh();
      const changes = (await fileFormats()).diffMesh(current?.config, config);
      if (opts.json) return ctx.out.write(JSON.stringify(changes, null, 2) + '\n');
      ctx.out.write(formatChanges(changes));
    });

  mesh
    .command('apply')
    .description('store FILE as a new version of the dependency file; every host picks it up')
    .argument('<file>', 'dependency file (YAML)')
    .requiredOption('-m, --message <why>', 'why (kept in the history)')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { message: string; addr?: string; json?: boolean }) => {
      const { config, value } = await loadMeshFile(file);
      const client = ctx.client(opts.addr);
      const changes = (await fileFormats()).diffMesh((await client.mesh())?.config, config);
      const r = await client.meshApply(value, opts.message);
      if (opts.json) return ctx.out.write(JSON.stringify({ ...r, changes }, null, 2) + '\n');
      ctx.out.write(formatChanges(changes));
      ctx.out.write(
        r.changed
          ? `dependency file version ${String(r.version)} stored\n`
          : `unchanged: version ${String(r.version)} is current\n`,
      );
    });

  mesh
    .command('history')
    .description("the dependency file's versions, with author and message")
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { addr?: string; json?: boolean }) => {
      const versions = await ctx.client(opts.addr).meshVersions();
      if (opts.json) return ctx.out.write(JSON.stringify(versions, null, 2) + '\n');
      if (versions.length === 0)
        return ctx.out.write('no dependency file yet (dabba mesh apply FILE --message WHY)\n');
      ctx.out.write(
        table(
          ['VERSION', 'AUTHOR', 'WHEN', 'SERVICES', 'MESSAGE'],
          versions.map((v) => [
            String(v.version),
            v.author,
            ago(v.createdAt),
            String(Object.keys(v.config.services).length),
            v.message,
          ]),
        ),
      );
    });

  mesh
    .command('rollback')
    .description('store an earlier version again as a new version (default: the one before the current)')
    .option('--to <n>', 'version to go back to (see dabba mesh history)')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { to?: string; addr?: string; json?: boolean }) => {
      let to: number | undefined;
      if (opts.to !== undefined) {
        to = Number(opts.to);
        if (!Number.isInteger(to) || to < 1)
          throw new CliError('--to must be a version number (see dabba mesh history)', EXIT.USAGE);
      }
      const r = await ctx.client(opts.addr).meshRollback(to);
      if (opts.json) return ctx.out.write(JSON.stringify(r, null, 2) + '\n');
      ctx.out.write(
        r.changed
          ? `dependency file version ${String(r.version)} restores version ${String(r.restored)}\n`
          : `unchanged: version ${String(r.version)} already has the config of version ${String(r.restored)}\n`,
      );
    });

  meshStatsCommand(mesh, ctx);

  mesh
    .command('show')
    .description('the current dependency file, every default filled in')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { addr?: string; json?: boolean }) => {
      const current = await ctx.client(opts.addr).mesh();
      if (opts.json) return ctx.out.write(JSON.stringify(current, null, 2) + '\n');
      if (current === null) return ctx.out.write('no dependency file yet\n');
      ctx.out.write(`# version ${String(current.version)} by ${current.author}: ${current.message}\n`);
      ctx.out.write(await toYaml((await fileFormats()).meshUserForm(current.config)));
    });
}
