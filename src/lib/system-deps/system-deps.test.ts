/** The package list's check against this machine's real PATH, files and /etc/os-release. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import {
  SKIP_VARIABLES,
  SYSTEM_PACKAGES,
  checkPackage,
  extraPackages,
  findCommand,
  installCommands,
  missingPackages,
  osFamily,
  type SystemPackage,
} from './index.ts';

const entry = (over: Partial<SystemPackage>): SystemPackage => ({
  package: 'x',
  command: 'x',
  feature: 'extra',
  usedBy: 'test',
  skippedBy: [],
  ...over,
});

describe('system packages', () => {
  test('the list: unique packages, each with a command and only known skip variables', () => {
    const names = SYSTEM_PACKAGES.map((p) => p.package);
    assert.equal(new Set(names).size, names.length);
    for (const p of SYSTEM_PACKAGES) {
      assert.match(p.command, p.file ? /^\/[a-z0-9./_-]+$/ : /^[a-z0-9.+-]+$/, p.package);
      for (const v of p.skippedBy) assert.ok(v in SKIP_VARIABLES, `${p.package}: ${v}`);
    }
    // What the tests used before the list existed (.ci/run's), plus catatonit.
    for (const p of [
      'runc',
      'crun',
      'conmon',
      'busybox-static',
      'iproute2',
      'nftables',
      'etcd-server',
      'catatonit',
    ])
      assert.ok(names.includes(p), p);
  });

  test('a command on PATH is found where it is; an absent one is missing, saying so', async () => {
    const sh = await checkPackage(entry({ package: 'dash', command: 'sh' }));
    assert.equal(sh.present, true);
    assert.equal(sh.path, await findCommand('sh'));
    const name = `dabba-absent-${process.pid}-${Date.now()}`;
    const absent = await checkPackage(entry({ package: 'absent', command: name }));
    assert.equal(absent.present, false);
    assert.equal(absent.problem, `${name} not found on PATH`);
    assert.deepEqual(missingPackages([sh, absent]), ['absent']);
  });

  test('sbin directories are searched even when PATH lacks them (as the runtime does)', async () => {
    const ip = await findCommand('ip', { PATH: '/nonexistent' });
    assert.ok(ip?.startsWith('/'), 'ip found outside PATH');
  });

  test('static: the real busybox-static passes, a dynamic executable does not', async () => {
    const busybox = SYSTEM_PACKAGES.find((p) => p.package === 'busybox-static');
    assert.ok(busybox);
    const bb = await checkPackage(busybox, { PATH: process.env['PATH'] });
    assert.equal(bb.present, true, bb.problem);
    const dynamic = await checkPackage(entry({ command: 'ls', static: true }));
    assert.equal(dynamic.present, false);
    assert.match(dynamic.problem ?? '', /ls is not a static executable/);
  });

  test('an override variable names the binary to check instead (ETCD_BIN)', async () => {
    const etcd = SYSTEM_PACKAGES.find((p) => p.package === 'etcd-server');
    assert.ok(etcd);
    const r = await checkPackage(etcd, { PATH: process.env['PATH'], ETCD_BIN: '/nonexistent/etcd' });
    assert.equal(r.present, false);
    assert.equal(r.problem, '/nonexistent/etcd (from ETCD_BIN) not found');
  });

  test('skip variables excuse a package only when all of its variables are 1', async () => {
    const ip = SYSTEM_PACKAGES.find((p) => p.package === 'iproute2');
    const runc = SYSTEM_PACKAGES.find((p) => p.package === 'runc');
    const busybox = SYSTEM_PACKAGES.find((p) => p.package === 'busybox-static');
    assert.ok(ip && runc && busybox);
    const env = { PATH: process.env['PATH'], DABBA_SKIP_OCI: '1' };
    assert.equal((await checkPackage(runc, env)).required, false);
    assert.equal((await checkPackage(ip, env)).required, true, 'the testbed still needs ip');
    assert.equal((await checkPackage(ip, { ...env, DABBA_SKIP_NETNS: '1' })).required, false);
    assert.equal((await checkPackage(busybox, { ...env, DABBA_SKIP_ETCD: '1' })).required, true);
    const absent = await checkPackage(
      entry({ command: `dabba-absent-${process.pid}`, skippedBy: ['DABBA_SKIP_ETCD'] }),
      { PATH: '', DABBA_SKIP_ETCD: 'yes' },
    );
    assert.equal(absent.required, true, 'only the value 1 skips');
    assert.deepEqual(missingPackages([absent]), ['x']);
  });

  test('DABBA_EXTRA_SYSTEM_PACKAGES adds packages; nonsense is refused', () => {
    assert.deepEqual(
      extraPackages('sl:/usr/games/sl, cowsay').map((p) => [p.package, p.command]),
      [
        ['sl', '/usr/games/sl'],
        ['cowsay', 'cowsay'],
      ],
    );
    assert.deepEqual(extraPackages(undefined), []);
    assert.throws(() => extraPackages('sl; rm -rf /'), /not PACKAGE or PACKAGE:COMMAND/);
    assert.throws(() => extraPackages('a:b:c'), /not PACKAGE or PACKAGE:COMMAND/);
  });

  test("os-release: this machine's, and another distribution's", async () => {
    const here = osFamily(await readFile('/etc/os-release', 'utf8'));
    assert.ok(here.id.length > 0);
    const fedora = osFamily('NAME="Fedora Linux"\nID=fedora\nPRETTY_NAME="Fedora Linux 40"\n');
    assert.deepEqual(fedora, { id: 'fedora', like: [], name: 'Fedora Linux 40' });
    const mint = osFamily('ID=linuxmint\nID_LIKE="ubuntu debian"\nNAME="Linux Mint"\n');
    assert.deepEqual(mint.like, ['ubuntu', 'debian']);
  });

  test('install commands: sudo unless root, exactly the packages given', () => {
    assert.deepEqual(installCommands(['runc', 'conmon']), [
      'sudo apt-get update',
      'sudo apt-get install -y runc conmon',
    ]);
    assert.deepEqual(installCommands(['sl'], true), ['apt-get update', 'apt-get install -y sl']);
  });
});
