/**
 * `dabba config put|get|ls|history|diff|revert|status` (docs/config.md): versioned configs under
 * paths, per namespace (`-n`). Content goes up and comes down as raw bytes.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ConfigTreeView, ConfigVersion } from '../../model/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { unifiedDiff } from '../line-diff.ts';
import { ago, formatSize, table } from '../output.ts';

const ADDR = ['--addr <addr>', 'server address(es) (default $DABBA_ADDR)'] as const;

function versionArg(raw: string | undefined, what: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new CliError(`${what} must be a version number (see dabba config history PATH)`, EXIT.USAGE);
  return n;
}

function versionLine(v: ConfigVersion): string {
  const revert = v.revertOf === undefined ? '' : ` (content of version ${v.revertOf})`;
  return `${v.path} version ${v.version}${revert}: ${formatSize(v.size)} ${v.digest.slice(0, 19)}`;
}

export function configCommand(program: Command, ctx: CliContext): void {
  const config = program
    .command('config')
    .description('versioned configs, delivered to the tasks that mount them (docs/config.md)');
  configPutCommand(config, ctx);
  configGetCommand(config, ctx);
  configLsCommand(config, ctx);
  configHistoryCommand(config, ctx);
  configDiffCommand(config, ctx);
  configRevertCommand(config, ctx);
  configStatusCommand(config, ctx);
}

/** `dabba config put`. */
function configPutCommand(config: Command, ctx: CliContext): void {
  config
    .command('put')
    .description('store FILE as the next version of the config at PATH (checked before it is stored)')
    .argument('<path>', 'config path, e.g. app/settings.json (.json and .yaml must parse)')
    .argument('<file>', 'file with the content (- for stdin)')
    .requiredOption('--message <why>', 'why it changes (kept with the version)')
    .option(...ADDR)
    .action(async (path: string, file: string, opts: { message: string; addr?: string }) => {
      let content: Buffer;
      try {
        content = file === '-' ? await readStdin(ctx) : await readFile(file);
      } catch (cause) {
        throw new CliError(`cannot read ${file}: ${(cause as Error).message}`, EXIT.USAGE, { cause });
      }
      const r = await ctx.client(opts.addr).configs().put(path, content, opts.message);
      ctx.out.write(
        r.changed
          ? `stored ${versionLine(r.config)}\n`
          : `unchanged: ${path} version ${r.config.version} has this content already\n`,
      );
    });
}

/** `dabba config get`. */
function configGetCommand(config: Command, ctx: CliContext): void {
  config
    .command('get')
    .description("print a config's content (the latest version, or --version N)")
    .argument('<path>', 'config path')
    .option('--version <n>', 'version to print')
    .option('--json', 'the version record (metadata) instead of the content')
    .option(...ADDR)
    .action(async (path: string, opts: { version?: string; json?: boolean; addr?: string }) => {
      const api = ctx.client(opts.addr).configs();
      const version = versionArg(opts.version, '--version');
      if (opts.json) return ctx.out.write(JSON.stringify(await api.get(path, version), null, 2) + '\n');
      ctx.out.write((await api.content(path, version)).bytes.toString('utf8'));
    });
}

/** `dabba config ls`. */
function configLsCommand(config: Command, ctx: CliContext): void {
  config
    .command('ls')
    .description('configs (latest versions) whose path starts with PREFIX')
    .argument('[prefix]', 'path prefix, e.g. app/', '')
    .option('--json', 'machine-readable output')
    .option(...ADDR)
    .action(async (prefix: string, opts: { json?: boolean; addr?: string }) => {
      const list = await ctx.client(opts.addr).configs().list(prefix);
      if (opts.json) return ctx.out.write(JSON.stringify(list, null, 2) + '\n');
      if (list.length === 0)
        return ctx.out.write('no configs (store one: dabba config put PATH FILE --message WHY)\n');
      ctx.out.write(
        table(
          ['PATH', 'VERSION', 'SIZE', 'AUTHOR', 'CHANGED'],
          list.map((v) => [v.path, String(v.version), formatSize(v.size), v.author, ago(v.at)]),
        ),
      );
    });
}

/** `dabba config history`. */
function configHistoryCommand(config: Command, ctx: CliContext): void {
  config
    .command('history')
    .description("a config's versions: who stored each, when and why")
    .argument('<path>', 'config path')
    .option('--json', 'machine-readable output')
    .option(...ADDR)
    .action(async (path: string, opts: { json?: boolean; addr?: string }) => {
      const list = await ctx.client(opts.addr).configs().history(path);
      if (opts.json) return ctx.out.write(JSON.stringify(list, null, 2) + '\n');
      ctx.out.write(
        table(
          ['VERSION', 'SIZE', 'DIGEST', 'AUTHOR', 'WHEN', 'MESSAGE'],
          list.map((v) => [
            String(v.version),
            formatSize(v.size),
            v.digest.slice(7, 19),
            v.author,
            ago(v.at),
            v.revertOf === undefined ? v.message : `${v.message} (revert to ${v.revertOf})`,
          ]),
        ),
      );
    });
}

/** `dabba config diff`. */
function configDiffCommand(config: Command, ctx: CliContext): void {
  config
    .command('diff')
    .description('differences between two versions (default: the one before the latest, and the latest)')
    .argument('<path>', 'config path')
    .argument('[a]', 'older version')
    .argument('[b]', 'newer version (default the latest)')
    .option(...ADDR)
    .action(async (path: string, a: string | undefined, b: string | undefined, opts: { addr?: string }) => {
      const api = ctx.client(opts.addr).configs();
      const latest = await api.get(path);
      const to = versionArg(b, 'B') ?? latest.version;
      const from = versionArg(a, 'A') ?? to - 1;
      if (from < 1) return ctx.out.write(`${path} has only version ${to}: nothing to compare it with\n`);
      const [oldC, newC] = await Promise.all([api.content(path, from), api.content(path, to)]);
      const d = unifiedDiff(
        oldC.bytes.toString('utf8'),
        newC.bytes.toString('utf8'),
        `${path}@${from}`,
        `${path}@${to}`,
      );
      ctx.out.write(d === '' ? `${path}: versions ${from} and ${to} have the same content\n` : d);
    });
}

/** `dabba config revert`. */
function configRevertCommand(config: Command, ctx: CliContext): void {
  config
    .command('revert')
    .description('store the content of version N again, as a new version')
    .argument('<path>', 'config path')
    .requiredOption('--to <n>', 'version whose content to bring back')
    .option('--message <why>', 'why (default "revert to version N")')
    .option(...ADDR)
    .action(async (path: string, opts: { to: string; message?: string; addr?: string }) => {
      const to = versionArg(opts.to, '--to') ?? 1;
      const r = await ctx.client(opts.addr).configs().revert(path, to, opts.message);
      ctx.out.write(`stored ${versionLine(r.config)}\n`);
    });
}

/** `dabba config status`. */
function configStatusCommand(config: Command, ctx: CliContext): void {
  config
    .command('status')
    .description('the latest version of a config and, per host, the version it has')
    .argument('<path>', 'config path')
    .option('--json', 'machine-readable output')
    .option(...ADDR)
    .action(async (path: string, opts: { json?: boolean; addr?: string }) => {
      const s = await ctx.client(opts.addr).configs().status(path);
      if (opts.json) return ctx.out.write(JSON.stringify(s, null, 2) + '\n');
      ctx.out.write(`latest: ${versionLine(s.latest)}\n`);
      if (s.hosts.length === 0) return ctx.out.write('no host has it (no task mounts it)\n');
      const behind = s.hosts.filter((h) => h.version !== s.latest.version).length;
      ctx.out.write(
        table(
          ['HOST', 'VERSION', 'SINCE'],
          s.hosts.map((h) => [
            h.host,
            h.version === s.latest.version ? `${h.version}` : `${h.version} (behind)`,
            ago(h.at),
          ]),
        ),
      );
      const p = s.propagation;
      const took =
        p?.p50Ms === undefined
          ? ''
          : ` (median ${p.p50Ms} ms, slowest ${p.maxMs ?? 0} ms after it was stored)`;
      ctx.out.write(
        `${s.hosts.length - behind} of ${s.hosts.length} hosts on version ${s.latest.version}${took}\n`,
      );
      if (s.tree) ctx.out.write(treeText(s.tree));
    });
}

/** The config's distribution tree: its shape, then each member. */
function treeText(t: ConfigTreeView): string {
  const head = `tree: shard ${t.shard}, ${t.members.length} hosts, depth ${t.depth}, fan-out ${t.fanout} (held by ${t.owner})\n`;
  if (t.members.length === 0) return head;
  return (
    head +
    table(
      ['HOST', 'RACK', 'DEPTH', 'PARENT', 'CHILDREN', 'HEARTBEAT'],
      t.members.map((m) => [
        m.host,
        m.rack ?? '-',
        String(m.depth),
        m.parent ?? '(server)',
        String(m.children),
        `${m.lastSeenMs} ms ago`,
      ]),
    )
  );
}

async function readStdin(ctx: CliContext): Promise<Buffer> {
  if (!ctx.stdio) throw new CliError('no standard input to read the content from', EXIT.USAGE);
  const chunks: Buffer[] = [];
  for await (const c of ctx.stdio.stdin) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}
