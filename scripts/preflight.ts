/**
 * `npm test`'s first step: the system packages the tests need (src/lib/system-deps/packages.ts) are
 * checked; as root on Debian/Ubuntu the missing ones are installed (apt-get update once, only then);
 * otherwise it stops, before any test, printing what to run. Prints nothing when all is there.
 * Exit: 0 ready, 1 something is missing (nothing else ran). `--list` prints the packages, one a line.
 *
 * Imports the system-deps folder directly, not src/lib/index.ts: the check must start fast.
 */
import {
  SYSTEM_PACKAGES,
  aptInstall,
  checkPackages,
  describeMissing,
  extraPackages,
  installAdvice,
  installability,
  missingPackages,
  skipRule,
  type SystemPackage,
} from '../src/lib/system-deps/index.ts';

const say = (lines: string[]): void => void process.stderr.write(lines.map((l) => `${l}\n`).join(''));

function list(): SystemPackage[] {
  try {
    return [...SYSTEM_PACKAGES, ...extraPackages(process.env['DABBA_EXTRA_SYSTEM_PACKAGES'])];
  } catch (e) {
    say([`preflight: ${e instanceof Error ? e.message : String(e)}`]);
    process.exit(2);
  }
}

async function main(): Promise<number> {
  const packages = list();
  if (process.argv.includes('--list')) {
    process.stdout.write(packages.map((p) => `${p.package}\n`).join(''));
    return 0;
  }
  const before = await checkPackages(packages);
  const missing = missingPackages(before);
  if (missing.length === 0) return 0;

  const can = await installability();
  if (!can.ok) {
    say([
      `preflight: the tests need system packages that are missing: ${describeMissing(before)}.`,
      `It cannot install them itself: ${can.reason}. Install them, then run npm test again:`,
      ...installAdvice(missing, false),
      ...skipRule(before),
      'No test has run.',
    ]);
    return 1;
  }

  say([`preflight: installing ${missing.join(' ')} (missing: ${describeMissing(before)})`]);
  const r = await aptInstall(can.aptGet, missing);
  if (!r.ok) {
    say([
      `preflight: \`${r.step}\` failed (exit ${r.code}); see its output above (no network? a held lock?).`,
      'Fix that and run npm test again, or install the packages yourself:',
      ...installAdvice(missing, true),
      ...skipRule(before),
      'No test has run.',
    ]);
    return 1;
  }
  const after = await checkPackages(packages);
  if (missingPackages(after).length > 0) {
    say([
      `preflight: installed, yet still missing: ${describeMissing(after)}.`,
      'Is PATH missing a directory the package installs into? No test has run.',
    ]);
    return 1;
  }
  say([`preflight: installed ${missing.join(' ')}; all system packages the tests need are present.`]);
  return 0;
}

process.exitCode = await main();
