import type { Command } from 'commander';
import type { JobPlanView } from '../../model/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { fileNamespace } from './deploy.ts';
import { EXIT } from '../exit-codes.ts';
import { loadJobFile, resolveJobPath } from '../job-loader.ts';
import { table } from '../output.ts';

function render(p: JobPlanView): string {
  const lines: string[] = [];
  const version = p.currentVersion === null ? 'new job' : `version ${p.currentVersion} -> ${p.nextVersion}`;
  lines.push(
    `job ${p.job}: ${p.changed ? version : `unchanged (version ${p.currentVersion ?? '-'})`}, ${p.replicas} replicas`,
  );
  const placed = p.add.filter((a) => a.host !== null).reduce((n, a) => n + a.count, 0);
  const unplaced = p.add.filter((a) => a.host === null).reduce((n, a) => n + a.count, 0);
  lines.push(
    `  keep ${p.keep.length}, add ${placed}${unplaced ? ` (+${unplaced} unplaceable)` : ''}, replace ${p.replace.length}, stop ${p.stop.length}`,
  );
  if (p.perHost.length > 0) {
    lines.push('');
    lines.push(
      table(
        ['HOST', 'TASKS NOW', 'AFTER', 'CHANGE'],
        p.perHost.map((h) => {
          const d = h.after - h.before;
          return [h.host, String(h.before), String(h.after), d === 0 ? '' : d > 0 ? `+${d}` : String(d)];
        }),
      ).trimEnd(),
    );
  }
  for (const r of p.replace) lines.push(`  replace ${r.task} on ${r.host ?? '(unplaced)'}`);
  for (const r of p.stop) lines.push(`  stop ${r.task} on ${r.host ?? '(unplaced)'}`);
  if (p.unrunnable) {
    lines.push('');
    lines.push(`no host can run this job: ${p.unrunnable.message}`);
  }
  for (const f of p.failures) {
    lines.push('');
    lines.push(`${f.count} task${f.count === 1 ? '' : 's'} cannot be placed:`);
    for (const d of f.detail) lines.push(`  ${d}`);
  }
  return lines.join('\n') + '\n';
}

export function planCommand(program: Command, ctx: CliContext): void {
  program
    .command('plan')
    .description('dry run: what deploying FILE would change, on which hosts, and why tasks would not fit')
    .argument(
      '<file>',
      "job file (YAML), or a folder: its job.RUNTIME.yaml for the hosts' runtime, else job.yaml",
    )
    .option('--json', 'machine-readable output')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (file: string, opts: { json?: boolean; addr?: string }) => {
      const { spec, userForm } = await loadJobFile(
        await resolveJobPath(file, ctx.client(opts.addr), (s) => (opts.json ? ctx.err : ctx.out).write(s)),
      );
      const plan = await ctx
        .client(opts.addr, fileNamespace(program, spec.namespace))
        .planJob(spec.name, userForm);
      ctx.out.write(opts.json ? JSON.stringify(plan, null, 2) + '\n' : render(plan));
      if (plan.unrunnable) {
        throw new CliError(
          `no host can run job ${plan.job} (${plan.unrunnable.code}); a deploy would be refused`,
          EXIT.FAILED,
        );
      }
      const unplaceable = plan.failures.reduce((n, f) => n + f.count, 0);
      if (unplaceable > 0) {
        throw new CliError(
          `${unplaceable} of ${plan.replicas} tasks cannot be placed (see above)`,
          EXIT.FAILED,
        );
      }
    });
}
