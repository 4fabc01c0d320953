/**
 * `dabba doctor`: the system packages Dabba and its tests need (the list `npm test` checks first),
 * what each feature lacks, and what `dabba dev` would use here (runtime, cgroups, bridge, proxy).
 * Reads only; exits 1 when a package this run's tests need is missing.
 */
import type { Command } from 'commander';
import {
  FEATURES,
  SYSTEM_PACKAGES,
  checkPackages,
  extraPackages,
  installCommands,
  missingPackages,
  type Feature,
  type PackageStatus,
} from '../../lib/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext, DevProbe } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { table } from '../output.ts';

export interface DoctorReport {
  packages: {
    package: string;
    present: boolean;
    path?: string;
    problem?: string;
    feature: Feature;
    usedBy: string;
    /** Needed by `npm test` in this environment (false when DABBA_SKIP_* excuses it). */
    required: boolean;
  }[];
  features: { feature: Feature; description: string; ok: boolean; missing: string[] }[];
  /** What `dabba dev` would use here (absent when this CLI was started without bin/'s probe). */
  dev?: DevProbe;
  /** Required and missing: what `npm test` would install (as root on Debian/Ubuntu) or ask for. */
  missing: string[];
  /** The commands that install them, when some are missing. */
  install: string[];
}

export async function doctorReport(ctx: CliContext): Promise<DoctorReport> {
  let extra;
  try {
    extra = extraPackages(ctx.env['DABBA_EXTRA_SYSTEM_PACKAGES']);
  } catch (e) {
    throw new CliError(e instanceof Error ? e.message : String(e), EXIT.USAGE);
  }
  const [statuses, dev] = await Promise.all([
    checkPackages([...SYSTEM_PACKAGES, ...extra], ctx.env),
    ctx.probeDev?.(),
  ]);
  const missing = missingPackages(statuses);
  const features = (Object.keys(FEATURES) as Feature[])
    .map((feature) => {
      const of = statuses.filter((s) => s.pkg.feature === feature);
      const lacking = of.filter((s) => !s.present).map((s) => s.pkg.package);
      return {
        feature,
        description: FEATURES[feature],
        ok: lacking.length === 0,
        missing: lacking,
        n: of.length,
      };
    })
    .filter((f) => f.n > 0)
    .map(({ n: _n, ...f }) => f);
  const root = process.getuid?.() === 0;
  return {
    packages: statuses.map(toEntry),
    features,
    ...(dev === undefined ? {} : { dev }),
    missing,
    install: missing.length === 0 ? [] : installCommands(missing, root),
  };
}

function toEntry(s: PackageStatus): DoctorReport['packages'][number] {
  return {
    package: s.pkg.package,
    present: s.present,
    ...(s.path === undefined ? {} : { path: s.path }),
    ...(s.problem === undefined ? {} : { problem: s.problem }),
    feature: s.pkg.feature,
    usedBy: s.pkg.usedBy,
    required: s.required,
  };
}

function render(r: DoctorReport): string {
  const out: string[] = ['system packages (the list npm test checks: src/lib/system-deps/packages.ts)'];
  out.push(
    table(
      ['PACKAGE', 'STATUS', 'FOUND', 'USED BY'],
      r.packages.map((p) => [
        p.package,
        p.present ? 'ok' : p.required ? 'MISSING' : 'missing (skipped)',
        p.path ?? p.problem ?? '-',
        p.usedBy,
      ]),
    ).trimEnd(),
    '',
    'features',
  );
  out.push(
    table(
      ['FEATURE', 'STATUS', 'WHAT'],
      r.features.map((f) => [f.feature, f.ok ? 'ok' : `missing ${f.missing.join(', ')}`, f.description]),
    ).trimEnd(),
  );
  if (r.dev) out.push('', 'what `dabba dev` would use here', ...renderDev(r.dev));
  out.push('');
  return out.join('\n') + '\n';
}

function renderDev(d: DevProbe): string[] {
  const runtime =
    d.runtime.name === 'oci'
      ? `oci with ${d.runtime.ociRuntime ?? 'crun'} and conmon (${d.runtime.reason})`
      : `process (containers unavailable: ${d.runtime.reason})`;
  const bridge =
    d.runtime.name !== 'oci'
      ? `none (the process runtime: tasks listen on host ports)`
      : d.bridge.present
        ? `${d.bridge.name} (present${d.bridge.addresses.length > 0 ? `: ${d.bridge.addresses.join(', ')}` : ''})`
        : `${d.bridge.name} (created by the first container)`;
  const proxy =
    d.proxy.path === undefined
      ? 'none: haproxy is not installed'
      : `haproxy at ${d.proxy.path}${d.proxy.version ? ` (${d.proxy.version})` : ''}`;
  const cgroups =
    d.cgroups === 'hybrid' ? 'hybrid (v1 controllers, with a v2 hierarchy mounted beside)' : d.cgroups;
  return [`  runtime  ${runtime}`, `  cgroups  ${cgroups}`, `  bridge   ${bridge}`, `  proxy    ${proxy}`];
}

export function doctorCommand(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description(
      "check this machine: the system packages Dabba's features and tests need, and what dabba dev would use",
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const r = await doctorReport(ctx);
      ctx.out.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : render(r));
      if (r.missing.length > 0) {
        throw new CliError(
          `missing system package${r.missing.length === 1 ? '' : 's'}: ${r.missing.join(' ')}; install with:\n` +
            `${r.install.map((c) => `  ${c}`).join('\n')}\n(npm test installs them itself when run as root on Debian or Ubuntu)`,
          EXIT.FAILED,
        );
      }
      if (!opts.json) ctx.out.write('all system packages the tests need are present\n');
    });
}
