import type { Command } from 'commander';
import { ruleUserForm, type RemediationRecord } from '../../model/index.ts';
import type { CliContext } from '../context.ts';
import { fileFormats, invalidFile, readUserFile, toYaml } from '../file-loader.ts';
import { ago, table } from '../output.ts';
import { parseDuration } from '../../lib/durations.ts';
import { CliError } from '../cli-error.ts';
import { EXIT } from '../exit-codes.ts';

/** `dabba remediation apply FILE --message WHY | log [--since DUR] [--json] | show`. */
export function remediationCommand(program: Command, ctx: CliContext): void {
  const rem = program
    .command('remediation')
    .description('auto-remediation: rules that cordon, drain, roll back or call a hook, and what they did');

  rem
    .command('apply')
    .description('validate FILE (every problem with line:column) and make it the rules in force')
    .argument('<file>', 'remediation rules (YAML)')
    .requiredOption('-m, --message <why>', 'why the rules change (kept with the version)')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { message: string; addr?: string; json?: boolean }) => {
      const { parseRemediationFile } = await fileFormats();
      const r = parseRemediationFile(await readUserFile(file, 'remediation file'), file);
      if (!r.ok) throw invalidFile(file, 'remediation file', r.issues);
      const view = await ctx.client(opts.addr).remediation().apply(r.raw, opts.message);
      if (opts.json) return ctx.out.write(JSON.stringify(view, null, 2) + '\n');
      const n = view.rules?.rules.length ?? 0;
      const dry = view.rules?.rules.filter((x) => x.dryRun).length ?? 0;
      ctx.out.write(
        `remediation rules version ${String(view.version)}: ${String(n)} rule${n === 1 ? '' : 's'}` +
          `${dry > 0 ? ` (${String(dry)} dry-run)` : ''}\n`,
      );
    });

  rem
    .command('show')
    .description('the rules in force, every default filled in')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { addr?: string; json?: boolean }) => {
      const view = await ctx.client(opts.addr).remediation().rules();
      if (opts.json) return ctx.out.write(JSON.stringify(view, null, 2) + '\n');
      if (view.rules === null)
        return ctx.out.write('no remediation rules yet (dabba remediation apply FILE -m WHY)\n');
      ctx.out.write(`# version ${String(view.version)} by ${view.author}: ${view.message}\n`);
      ctx.out.write(await toYaml({ rules: view.rules.rules.map(ruleUserForm) }));
    });

  rem
    .command('log')
    .description('what remediation did, held back (rate limits) or only logged (dry run), and why')
    .option('--since <dur>', 'only records this recent (e.g. 1h, 2d)')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { since?: string; addr?: string; json?: boolean }) => {
      let since: number | undefined;
      if (opts.since !== undefined) {
        const d = parseDuration(opts.since);
        if (!d.ok) throw new CliError(`--since: ${d.error}`, EXIT.USAGE);
        since = Date.now() - d.ms;
      }
      const records = await ctx.client(opts.addr).remediation().log(since);
      if (opts.json) return ctx.out.write(JSON.stringify(records, null, 2) + '\n');
      if (records.length === 0) return ctx.out.write('no remediation records\n');
      ctx.out.write(formatLog(records));
    });
}

export function formatLog(records: readonly RemediationRecord[]): string {
  return table(
    ['WHEN', 'RULE', 'TARGET', 'ACTION', 'OUTCOME', 'WHY'],
    records.map((r) => [
      `${ago(r.at)} ago`,
      r.rule,
      r.target,
      r.action,
      r.outcome,
      r.detail === undefined ? r.reason : `${r.reason}; ${r.detail}`,
    ]),
  );
}
