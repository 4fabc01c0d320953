/**
 * The distribution's seccomp profile (Debian's golang-github-containers-common, Podman's) turned
 * into the OCI config's: the real file, checked rule by rule against what containers/common would
 * apply for Dabba's capabilities on this architecture; a profile that cannot be used falls back to
 * the built-in one, saying why.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultSeccompProfile, type SeccompProfile } from './seccomp.ts';
import { chooseSeccompProfile, DISTRIBUTION_SECCOMP_PATH, translateProfile } from './seccomp-distribution.ts';
import { DEFAULT_CAPABILITIES } from './spec.ts';

/** The action the profile takes for a syscall without argument rules (first matching rule). */
function actionFor(p: SeccompProfile, name: string): string {
  const r = p.syscalls.find((s) => s.names.includes(name) && s.args === undefined);
  return r?.action ?? p.defaultAction;
}

test("the distribution's profile: this architecture, Dabba's capabilities, this kernel", () => {
  const json: unknown = JSON.parse(readFileSync(DISTRIBUTION_SECCOMP_PATH, 'utf8'));
  const x64 = translateProfile(json, { capabilities: DEFAULT_CAPABILITIES, arch: 'x64', kernel: '6.1.0' });
  assert.equal(x64.defaultAction, 'SCMP_ACT_ERRNO');
  assert.deepEqual(x64.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  assert.equal(actionFor(x64, 'read'), 'SCMP_ACT_ALLOW');
  assert.equal(actionFor(x64, 'arch_prctl'), 'SCMP_ACT_ALLOW', 'amd64 only');
  assert.equal(actionFor(x64, 'sync_file_range2'), 'SCMP_ACT_ERRNO', 'ppc64le only');
  // Capabilities: CAP_SYS_CHROOT is Dabba's, CAP_SYS_ADMIN and CAP_SYS_MODULE are not.
  assert.equal(actionFor(x64, 'chroot'), 'SCMP_ACT_ALLOW');
  for (const name of ['bpf', 'init_module', 'kexec_load', 'userfaultfd', 'iopl'])
    assert.notEqual(actionFor(x64, name), 'SCMP_ACT_ALLOW', name);
  // A rule excluding a capability Dabba's tasks have does not apply (socket, CAP_AUDIT_WRITE).
  const socketRules = x64.syscalls.filter((s) => s.names.includes('socket'));
  assert.ok(socketRules.some((s) => s.action === 'SCMP_ACT_ALLOW' && s.args === undefined));
  assert.ok(!socketRules.some((s) => s.action === 'SCMP_ACT_ERRNO' && s.errnoRet === 22));

  const arm = translateProfile(json, { capabilities: DEFAULT_CAPABILITIES, arch: 'arm64', kernel: '6.1.0' });
  assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.equal(actionFor(arm, 'arch_prctl'), 'SCMP_ACT_ERRNO');

  // With CAP_SYS_ADMIN (not Dabba's default) the admin rules apply: the filter reads the caps.
  const admin = translateProfile(json, {
    capabilities: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'],
    arch: 'x64',
    kernel: '6.1.0',
  });
  assert.equal(actionFor(admin, 'bpf'), 'SCMP_ACT_ALLOW');
});

test('rules by kernel version, and what a profile may not hold', () => {
  const profile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['read'], action: 'SCMP_ACT_ALLOW' },
      { names: ['newcall'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.12' } },
      {
        names: ['personality'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }],
      },
    ],
  };
  const opts = { capabilities: DEFAULT_CAPABILITIES, arch: 'x64' };
  assert.equal(
    actionFor(translateProfile(profile, { ...opts, kernel: '5.10.0-23-amd64' }), 'newcall'),
    'SCMP_ACT_ERRNO',
  );
  const newer = translateProfile(profile, { ...opts, kernel: '6.1.0-13-amd64' });
  assert.equal(actionFor(newer, 'newcall'), 'SCMP_ACT_ALLOW');
  assert.deepEqual(newer.syscalls.find((s) => s.names.includes('personality'))?.args, [
    { index: 0, value: 8, op: 'SCMP_CMP_EQ' },
  ]);
  assert.equal(newer.defaultErrnoRet, 1);

  for (const [bad, why] of [
    [{ ...profile, defaultAction: 'SCMP_ACT_WHATEVER' }, /defaultAction: unknown/],
    [{ ...profile, syscalls: 'all' }, /syscalls: not a list/],
    [
      {
        ...profile,
        syscalls: [{ names: ['x'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, op: 'LIKE' }] }],
      },
      /op: unknown/,
    ],
    [{ ...profile, syscalls: [{ names: [1], action: 'SCMP_ACT_ALLOW' }] }, /names: not a list of strings/],
  ] as const)
    assert.throws(() => translateProfile(bad, { ...opts, kernel: '6.1' }), why);
});

test('the built-in profile when the file is absent or unusable, with the reason', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-seccomp-'));
  try {
    const absent = chooseSeccompProfile({ capabilities: DEFAULT_CAPABILITIES, path: join(dir, 'none.json') });
    assert.equal(absent.source, 'built-in');
    assert.equal(absent.reason, undefined);
    assert.deepEqual(absent.profile, defaultSeccompProfile());

    const garbage = join(dir, 'garbage.json');
    await writeFile(garbage, '{ "defaultAction": ');
    const refused = chooseSeccompProfile({ capabilities: DEFAULT_CAPABILITIES, path: garbage });
    assert.equal(refused.source, 'built-in');
    assert.match(refused.reason ?? '', /garbage\.json was not used: .*JSON/);

    const real = chooseSeccompProfile({ capabilities: DEFAULT_CAPABILITIES });
    assert.equal(real.source, 'distribution');
    assert.equal(real.path, DISTRIBUTION_SECCOMP_PATH);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
