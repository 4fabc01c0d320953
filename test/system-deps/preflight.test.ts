/**
 * npm test's first step (scripts/preflight.ts) and `dabba doctor`, run as processes on this machine's
 * real dpkg and PATH: with everything present the preflight passes silently (its time is printed);
 * as a non-root user with a package that is genuinely not installed, the real `npm test` stops with
 * the exact apt-get line and a non-zero exit, having run no test. Nothing is installed by this test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  SYSTEM_PACKAGES,
  checkPackages,
  extraPackages,
  findCommand,
  missingPackages,
} from '../../src/lib/system-deps/index.ts';
import { detectOci } from '../../src/runtime/oci/index.ts';

const REPO = resolve(import.meta.dirname, '../..');
const NODE = join(REPO, 'node_modules/.bin/node');
/** Packages Debian has that Dabba does not need, with the file each installs. */
const NOT_NEEDED = [
  ['sl', '/usr/games/sl'],
  ['cowsay', '/usr/games/cowsay'],
  ['figlet', '/usr/bin/figlet'],
  ['fortune-mod', '/usr/games/fortune'],
] as const;

function dpkgInstalled(pkg: string): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

/** This process's environment without the variables that would change the preflight's answer. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k === 'DABBA_EXTRA_SYSTEM_PACKAGES' || k.startsWith('npm_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

describe('preflight', () => {
  test('this machine has every package: the preflight passes, prints nothing, quickly', async (t) => {
    // Guard: as root on Debian a missing package would be installed; this test must not install.
    const missing = missingPackages(await checkPackages(SYSTEM_PACKAGES));
    assert.deepEqual(
      missing,
      [],
      `run the preflight first (node scripts/preflight.ts): ${missing.join(' ')}`,
    );
    const t0 = performance.now();
    const r = spawnSync(NODE, ['scripts/preflight.ts'], { cwd: REPO, env: cleanEnv(), encoding: 'utf8' });
    const ms = performance.now() - t0;
    t.diagnostic(`preflight with everything present: ${ms.toFixed(0)} ms (process start included)`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout + r.stderr, '');
  });

  test('dabba doctor as root: everything present, and the runtime dabba dev would choose', async () => {
    const r = spawnSync(join(REPO, 'bin/dabba'), ['doctor', '--json'], {
      cwd: REPO,
      env: cleanEnv(),
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      missing: string[];
      features: { feature: string; ok: boolean }[];
      dev: { runtime: { name: string; ociRuntime?: string; reason: string }; cgroups: string };
    };
    assert.deepEqual(report.missing, []);
    assert.ok(report.features.every((f) => f.ok));
    const oci = await detectOci();
    assert.equal(report.dev.runtime.name, oci.ok ? 'oci' : 'process');
    assert.equal(report.dev.runtime.reason.split(',')[0], oci.reason.split(',')[0]);
    assert.match(report.dev.cgroups, /^(v1|v2|hybrid)$/);
  });

  describe('as a non-root user, with a package that is not installed', () => {
    let home = '';
    /**
     * The repository seen through a bind mount under the temp dir: a clone may live where nobody
     * cannot reach it (under /root, mode 0700), and the mount skips the parents' permissions.
     */
    let repo = '';
    let missingPkg: (typeof NOT_NEEDED)[number];
    const asNobody = (args: string[], extra: Record<string, string>) =>
      spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', ...args], {
        cwd: repo,
        env: cleanEnv({
          HOME: home,
          npm_config_cache: join(home, 'npm-cache'),
          npm_config_update_notifier: 'false',
          ...extra,
        }),
        encoding: 'utf8',
        timeout: 60_000,
      });

    before(async () => {
      assert.equal(process.getuid?.(), 0, 'this test switches to the user nobody: it needs root');
      missingPkg =
        NOT_NEEDED.find(([pkg]) => !dpkgInstalled(pkg)) ??
        assert.fail(`all of ${NOT_NEEDED.map((p) => p[0]).join(', ')} are installed`);
      home = await mkdtemp(join(tmpdir(), 'dabba-preflight-'));
      await chown(home, 65534, 65534);
      repo = join(home, 'repo');
      await mkdir(repo);
      const m = spawnSync('mount', ['--bind', REPO, repo], { encoding: 'utf8' });
      assert.equal(m.status, 0, `mount --bind the repository: ${m.stderr}`);
    });
    after(async () => {
      if (repo !== '') {
        spawnSync('umount', [repo]);
        // Never a recursive delete through a mount that is still there: the repository would go.
        await rmdir(repo);
      }
      if (home !== '') await rm(home, { recursive: true, force: true });
    });

    test('the preflight alone, with the real list only: passes (it needs no root when nothing is missing)', () => {
      const r = asNobody([join(repo, 'node_modules/.bin/node'), 'scripts/preflight.ts'], {});
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout + r.stderr, '');
    });

    test('the real npm test stops at once: the exact apt-get line, exit 1, no test run', async () => {
      const [pkg, file] = missingPkg;
      assert.equal(dpkgInstalled(pkg), false, `${pkg} must not be installed for this test`);
      const extra = `${pkg}:${file}`;
      const expected = missingPackages(await checkPackages([...SYSTEM_PACKAGES, ...extraPackages(extra)]));
      assert.deepEqual(expected, [pkg], 'everything else is present here');
      const npm = await findCommand('npm');
      assert.ok(npm, 'npm on PATH');
      const r = asNobody([npm, 'test'], { DABBA_EXTRA_SYSTEM_PACKAGES: extra });
      const output = r.stdout + r.stderr;
      assert.notEqual(r.status, 0, output);
      const lines = r.stderr.split('\n');
      assert.ok(lines.includes(`  sudo apt-get install -y ${pkg}`), output);
      assert.ok(lines.includes('  sudo apt-get update'), output);
      assert.match(r.stderr, /installing needs root \(running as uid 65534\)/);
      assert.match(r.stderr, /Only DABBA_SKIP_OCI=1 .*DABBA_SKIP_ETCD=1 .*skip; npm test never sets them/);
      assert.match(r.stderr, /No test has run\./);
      // Nothing after the preflight ran: no typecheck, lint, format check, test runner.
      assert.doesNotMatch(output, /> dabba@[^ ]+ (typecheck|lint|format:check)/);
      assert.doesNotMatch(output, /^# (tests|pass|fail) /m);
      assert.doesNotMatch(output, /[✔✖▶]/);
    });

    test('dabba doctor reports the same package missing, exit 1', () => {
      const [pkg, file] = missingPkg;
      const r = asNobody([join(repo, 'bin/dabba'), 'doctor', '--json'], {
        DABBA_EXTRA_SYSTEM_PACKAGES: `${pkg}:${file}`,
      });
      assert.equal(r.status, 1, r.stderr);
      const report = JSON.parse(r.stdout) as {
        missing: string[];
        install: string[];
        packages: { package: string; present: boolean }[];
        dev: { runtime: { name: string; reason: string }; cgroups: string };
      };
      assert.deepEqual(report.missing, [pkg]);
      assert.deepEqual(report.install, ['sudo apt-get update', `sudo apt-get install -y ${pkg}`]);
      assert.deepEqual(
        report.packages.map((p) => p.package),
        [...SYSTEM_PACKAGES.map((p) => p.package), pkg],
      );
      // Not root: `dabba dev` would fall back to processes, and says why (its own detection).
      assert.equal(report.dev.runtime.name, 'process');
      assert.match(report.dev.runtime.reason, /containers need root/);
      assert.match(r.stderr, new RegExp(`sudo apt-get install -y ${pkg}`));
    });
  });
});
