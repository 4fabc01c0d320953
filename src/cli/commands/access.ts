/** `dabba token`, `dabba login` and `dabba namespace`: who may do what, and where. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseSize } from '../../lib/index.ts';
import type { NamespaceQuota, NamespaceUsage } from '../../model/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext, GlobalOptions } from '../context.ts';
import { credentialsPath, saveCredentials } from '../credentials.ts';
import { EXIT } from '../exit-codes.ts';
import { cpu, formatSize, table } from '../output.ts';

const ADDR_HELP = 'server address(es) (default $DABBA_ADDR)';

function when(ms: number | null): string {
  return ms === null ? 'never' : new Date(ms).toISOString();
}

function tokenCommands(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('API tokens: create, list, revoke (admin)');
  token
    .command('create')
    .description('create a token and print it (shown once; the server keeps only its hash)')
    .argument('<name>', 'unique name (shown in the audit log)')
    .requiredOption('--role <role>', 'viewer, deployer, admin, or agent (joins hosts)')
    .option('--ttl <duration>', 'expires after this long (e.g. 12h, 30d)')
    .option('--addr <addr>', ADDR_HELP)
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: { role: string; ttl?: string; addr?: string; json?: boolean }) => {
      if (!['viewer', 'deployer', 'admin', 'agent'].includes(opts.role)) {
        throw new CliError(
          `--role must be viewer, deployer, admin or agent (got "${opts.role}")`,
          EXIT.USAGE,
        );
      }
      const namespaces = program.opts<GlobalOptions>().namespace;
      const all = program.opts<GlobalOptions>().allNamespaces === true || namespaces.includes('*');
      const client = ctx.client(opts.addr);
      const r = await client.createToken({
        name,
        role: opts.role,
        ...(all ? { namespaces: '*' as const } : namespaces.length > 0 ? { namespaces } : {}),
        ...(opts.ttl === undefined ? {} : { ttl: opts.ttl }),
      });
      if (opts.json) return ctx.out.write(JSON.stringify(r, null, 2) + '\n');
      ctx.out.write(`${r.token}\n`);
      const ns = r.namespaces === '*' ? 'all namespaces' : `namespaces: ${r.namespaces.join(', ') || '-'}`;
      ctx.err.write(`token ${r.name}: role ${r.role}, ${ns}, expires ${when(r.expires)}\n`);
      if (r.role === 'agent') {
        // What the agent needs besides the token: how to trust the server (stdout stays the token).
        const pin = await client.clusterCa().then(
          (ca) => ca.pin,
          () => undefined,
        );
        if (pin !== undefined)
          ctx.err.write(
            `join with: dabba agent --server ${client.addr} --join-token TOKEN --ca-pin ${pin} --data-dir DIR\n`,
          );
      }
    });
  token
    .command('ls')
    .description('list tokens (names, roles, namespaces, expiry; never the tokens)')
    .option('--addr <addr>', ADDR_HELP)
    .option('--json', 'machine-readable output')
    .action(async (opts: { addr?: string; json?: boolean }) => {
      const list = await ctx.client(opts.addr).listTokens();
      if (opts.json) return ctx.out.write(JSON.stringify(list, null, 2) + '\n');
      ctx.out.write(
        table(
          ['NAME', 'ROLE', 'NAMESPACES', 'HOST', 'EXPIRES', 'CREATED BY'],
          list.map((t) => [
            t.name,
            t.role,
            t.namespaces === '*' ? '*' : t.namespaces.join(',') || '-',
            t.hostId ?? '-',
            when(t.expires),
            t.createdBy,
          ]),
        ),
      );
    });
  token
    .command('revoke')
    .description('revoke a token at once (a host credential too: host.HOST)')
    .argument('<name>', 'token name')
    .option('--addr <addr>', ADDR_HELP)
    .action(async (name: string, opts: { addr?: string }) => {
      await ctx.client(opts.addr).revokeToken(name);
      ctx.err.write(`token ${name} revoked\n`);
    });
}

function loginCommand(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .description("store a server's token (and --ca) for this user (checked with the server first)")
    .requiredOption('--addr <url>', 'server address')
    .requiredOption('--token-file <file>', 'file holding the token (e.g. DATA_DIR/admin.token)')
    .action(async (opts: { addr: string; tokenFile: string }) => {
      let token: string;
      try {
        token = (await readFile(opts.tokenFile, 'utf8')).trim();
      } catch (e) {
        throw new CliError(
          `cannot read --token-file ${opts.tokenFile}: ${(e as Error).message}`,
          EXIT.USAGE,
          {
            cause: e,
          },
        );
      }
      if (token === '') throw new CliError(`--token-file ${opts.tokenFile} is empty`, EXIT.USAGE);
      const client = ctx.client(opts.addr, { token });
      const who = await client.whoami();
      const path = credentialsPath(ctx.env);
      // The CA it was verified with (--ca / DABBA_CA) is stored too: later commands need neither.
      const ca = ctx.tls?.ca;
      await saveCredentials(path, client.addr, {
        token,
        ...(ca === undefined ? {} : { ca }),
        savedAt: Date.now(),
      });
      ctx.err.write(
        `logged in to ${client.addr} as ${who.name ?? who.hostId ?? who.kind} (stored in ${path})\n`,
      );
    });
}

function parseQuotaFlags(o: { cpu?: string; memory?: string; tasks?: string }): {
  cpu?: number | null;
  memoryBytes?: number | null;
  tasks?: number | null;
} {
  const out: { cpu?: number | null; memoryBytes?: number | null; tasks?: number | null } = {};
  const none = (v: string): boolean => v === 'none' || v === 'unlimited';
  if (o.cpu !== undefined) {
    const n = Number(o.cpu);
    if (none(o.cpu)) out.cpu = null;
    else if (!Number.isFinite(n) || n < 0)
      throw new CliError(`--cpu "${o.cpu}" must be a number of cores (or none)`, EXIT.USAGE);
    else out.cpu = n;
  }
  if (o.memory !== undefined) {
    const r = parseSize(o.memory);
    if (none(o.memory)) out.memoryBytes = null;
    else if (!r.ok)
      throw new CliError(`--memory "${o.memory}" must be a size such as 8Gi (or none)`, EXIT.USAGE);
    else out.memoryBytes = r.bytes;
  }
  if (o.tasks !== undefined) {
    const n = Number(o.tasks);
    if (none(o.tasks)) out.tasks = null;
    else if (!Number.isInteger(n) || n < 0)
      throw new CliError(`--tasks "${o.tasks}" must be a whole number (or none)`, EXIT.USAGE);
    else out.tasks = n;
  }
  return out;
}

function usageCell(used: number, limit: number | undefined, fmt: (n: number) => string): string {
  return `${fmt(used)}/${limit === undefined ? '-' : fmt(limit)}`;
}

function namespaceRows(
  list: { name: string; quota: NamespaceQuota; used: NamespaceUsage; requested: NamespaceUsage }[],
): string {
  return table(
    ['NAMESPACE', 'CPU', 'MEMORY', 'TASKS', 'REQUESTED CPU', 'REQUESTED MEMORY'],
    list.map((n) => [
      n.name,
      usageCell(n.used.cpu, n.quota.cpu, cpu),
      usageCell(n.used.memoryBytes, n.quota.memoryBytes, formatSize),
      usageCell(n.used.tasks, n.quota.tasks, String),
      cpu(n.requested.cpu),
      formatSize(n.requested.memoryBytes),
    ]),
  );
}

function namespaceCommands(program: Command, ctx: CliContext): void {
  const ns = program.command('namespace').description('namespaces and their quotas (used/quota)');
  const quotaOpts = (c: Command): Command =>
    c
      .option('--cpu <cores>', 'CPU quota in cores (none: no limit)')
      .option('--memory <size>', 'memory quota, e.g. 8Gi (none: no limit)')
      .option('--tasks <n>', 'task count quota (none: no limit)')
      .option('--addr <addr>', ADDR_HELP)
      .option('--json', 'machine-readable output');
  quotaOpts(
    ns
      .command('create')
      .description('create a namespace, with an optional quota (admin)')
      .argument('<ns>', 'name'),
  ).action(
    async (
      name: string,
      opts: { cpu?: string; memory?: string; tasks?: string; addr?: string; json?: boolean },
    ) => {
      const v = await ctx.client(opts.addr).createNamespace(name, parseQuotaFlags(opts));
      if (opts.json) return ctx.out.write(JSON.stringify(v, null, 2) + '\n');
      ctx.err.write(`namespace ${name} created\n`);
    },
  );
  quotaOpts(
    ns.command('set-quota').description("change a namespace's quota (admin)").argument('<ns>', 'name'),
  ).action(
    async (
      name: string,
      opts: { cpu?: string; memory?: string; tasks?: string; addr?: string; json?: boolean },
    ) => {
      const q = parseQuotaFlags(opts);
      if (Object.keys(q).length === 0)
        throw new CliError('give at least one of --cpu, --memory, --tasks', EXIT.USAGE);
      const v = await ctx.client(opts.addr).setQuota(name, q);
      if (opts.json) return ctx.out.write(JSON.stringify(v, null, 2) + '\n');
      ctx.out.write(namespaceRows([v]));
    },
  );
  ns.command('ls')
    .description('namespaces the token covers: usage by running tasks beside the quota')
    .option('--addr <addr>', ADDR_HELP)
    .option('--json', 'machine-readable output')
    .action(async (opts: { addr?: string; json?: boolean }) => {
      const list = await ctx.client(opts.addr).listNamespaces();
      if (opts.json) return ctx.out.write(JSON.stringify(list, null, 2) + '\n');
      ctx.out.write(namespaceRows(list));
    });
}

export function accessCommands(program: Command, ctx: CliContext): void {
  tokenCommands(program, ctx);
  loginCommand(program, ctx);
  namespaceCommands(program, ctx);
}
