/** The words shared by `npm test`'s preflight and `dabba doctor` about missing packages. */
import { installCommands } from './apt.ts';
import { SKIP_VARIABLES, type SkipVariable } from './packages.ts';
import type { PackageStatus } from './probe.ts';

/** "runc (runc not found on PATH), ..." for the required packages that are missing. */
export function describeMissing(statuses: readonly PackageStatus[]): string {
  return statuses
    .filter((s) => s.required && !s.present)
    .map((s) => `${s.pkg.package} (${s.problem ?? 'missing'})`)
    .join(', ');
}

/**
 * The fail-not-skip rule, and which skip variables would excuse which missing package: tests without
 * what they need fail; only the DABBA_SKIP_* variables skip, set by a person, never by npm test.
 */
export function skipRule(statuses: readonly PackageStatus[]): string[] {
  const vars = Object.entries(SKIP_VARIABLES).map(([v, what]) => `${v}=1 (${what})`);
  const lines = [
    `The tests fail, never skip, without what they need. Only ${vars.join(', ')} skip; npm test never sets them.`,
  ];
  const byCondition = new Map<string, string[]>();
  for (const s of statuses.filter((x) => x.required && !x.present)) {
    const when =
      s.pkg.skippedBy.length === 0
        ? 'needed by every run'
        : `not needed with ${s.pkg.skippedBy.map((v: SkipVariable) => `${v}=1`).join(' and ')}`;
    byCondition.set(when, [...(byCondition.get(when) ?? []), s.pkg.package]);
  }
  const parts = [...byCondition].map(([when, pkgs]) => `${pkgs.join(', ')}: ${when}`);
  if (parts.length > 0) lines.push(`Of the missing packages: ${parts.join('; ')}.`);
  return lines;
}

/** What to run to install the missing packages, one command a line, indented. */
export function installAdvice(missing: readonly string[], asRoot: boolean): string[] {
  return installCommands(missing, asRoot).map((c) => `  ${c}`);
}
