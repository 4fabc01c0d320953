/** The oci runtime's pure and file-level parts (no root needed): logs, exit status, addresses, spec, lookups. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RuntimeError } from '../../errors/index.ts';
import { LineAssembler, parseCriLine, parseTimestamp, readCriLog } from './cri-log.ts';
import { Ipam, parseSubnet } from './ipam.ts';
import { exitStatusFrom } from './oci-runtime.ts';
import { portEnv, portEnvName } from '../port-env.ts';
import { findCommand, lookupUser, resolveInRoot } from './rootfs-lookup.ts';
import { defaultSeccompProfile } from './seccomp.ts';
import { buildSpec, resources } from './spec.ts';

const MiB = 1024 * 1024;

describe('oci runtime parts', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-oci-parts-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('CRI log lines: timestamps with nanoseconds, streams, partial records joined per stream', () => {
    assert.equal(
      parseTimestamp('2026-11-22T13:02:30.916346174+00:00'),
      Date.parse('2026-11-22T13:02:30.916Z'),
    );
    assert.equal(parseTimestamp('2026-11-22T13:02:30Z'), Date.parse('2026-11-22T13:02:30.000Z'));
    assert.equal(parseCriLine('garbage'), undefined);
    assert.deepEqual(parseCriLine('2026-11-22T13:02:30.5+00:00 stderr F a b  c'), {
      time: Date.parse('2026-11-22T13:02:30.500Z'),
      stream: 'stderr',
      partial: false,
      text: 'a b  c',
    });
    assert.equal(parseCriLine('2026-11-22T13:02:30Z stdout F ')?.text, '');
    const a = new LineAssembler();
    const rec = (stream: 'stdout' | 'stderr', tag: string, text: string) =>
      a.push({ time: 1, stream, partial: tag === 'P', text });
    assert.equal(rec('stdout', 'P', 'hel'), undefined);
    assert.deepEqual(rec('stderr', 'F', 'err'), { stream: 'stderr', time: 1, text: 'err' });
    assert.deepEqual(rec('stdout', 'F', 'lo'), { stream: 'stdout', time: 1, text: 'hello' });
    assert.equal(rec('stdout', 'P', 'tail'), undefined);
    assert.deepEqual(a.flush(), [{ stream: 'stdout', time: 1, text: 'tail' }]);
  });

  test('readCriLog: tail, a trailing partial line, and follow until finished', async () => {
    const path = join(dir, 'ctr.log');
    const ts = '2026-01-01T00:00:00.000000001Z';
    await writeFile(
      path,
      [1, 2, 3, 4].map((i) => `${ts} stdout F line${i}\n`).join('') + `${ts} stderr P no-newline\n`,
    );
    const read = async (o: Parameters<typeof readCriLog>[1], finished = true): Promise<string[]> => {
      const out: string[] = [];
      for await (const l of readCriLog(path, o, { finished: () => Promise.resolve(finished) }))
        out.push(l.text);
      return out;
    };
    assert.deepEqual(await read({}), ['line1', 'line2', 'line3', 'line4', 'no-newline']);
    assert.deepEqual(await read({ tail: 2 }), ['line4', 'no-newline']);
    let done = false;
    const seen: string[] = [];
    const following = (async () => {
      for await (const l of readCriLog(
        path,
        { follow: true, tail: 1 },
        { finished: () => Promise.resolve(done) },
      )) {
        seen.push(l.text);
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    await writeFile(path, `${ts} stdout F line5\n`, { flag: 'a' });
    await new Promise((r) => setTimeout(r, 400));
    done = true;
    await following;
    // A partial record waits for its continuation; it is flushed when the task is finished.
    assert.deepEqual(seen, ['line4', 'line5', 'no-newline']);
  });

  test('readCriLog: a character cut by the end of a 1 MiB read comes through whole', async () => {
    const path = join(dir, 'ctr-utf8.log');
    const head = '2026-01-01T00:00:00.000000001Z stdout F ';
    // The 2-byte "é" straddles byte 1 MiB, where the first read of the file ends.
    const pad = 'x'.repeat((1 << 20) - head.length - 1);
    await writeFile(path, `${head}${pad}é\n${head}next\n`);
    const out: string[] = [];
    for await (const l of readCriLog(path, {}, { finished: () => Promise.resolve(true) })) out.push(l.text);
    assert.deepEqual(
      out.map((t) => t.slice(-3)),
      ['xxé', 'ext'],
    );
  });

  test('exit status: code, signal from 128+N, OOM wins, unknown', () => {
    assert.deepEqual(exitStatusFrom(3, false, 5), {
      exitCode: 3,
      signal: null,
      oomKilled: false,
      reason: 'Exited',
      finishedAt: 5,
    });
    assert.deepEqual(exitStatusFrom(143, false, 5), {
      exitCode: 143,
      signal: 'SIGTERM',
      oomKilled: false,
      reason: 'Killed',
      finishedAt: 5,
    });
    assert.deepEqual(exitStatusFrom(0, true, 5), {
      exitCode: 137,
      signal: 'SIGKILL',
      oomKilled: true,
      reason: 'OOMKilled',
      finishedAt: 5,
    });
    assert.equal(exitStatusFrom(null, false).reason, 'Unknown');
  });

  test('addresses: private subnets only; allocations persist, are reused by owner, freed last', async () => {
    assert.throws(() => parseSubnet('8.8.8.0/24'), RuntimeError);
    assert.throws(() => parseSubnet('10.0.0.0/30'), RuntimeError);
    const s = parseSubnet('10.77.3.9/29');
    assert.deepEqual([s.cidr, s.gateway, s.prefix], ['10.77.3.8/29', '10.77.3.9', 29]);
    const file = join(dir, 'ipam.json');
    const ipam = new Ipam(file, s);
    const got = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((o) => ipam.allocate(o)));
    assert.deepEqual(got, ['10.77.3.10', '10.77.3.11', '10.77.3.12', '10.77.3.13', '10.77.3.14']);
    assert.equal(await ipam.allocate('c'), '10.77.3.12', 'an owner keeps its address');
    await assert.rejects(ipam.allocate('f'), /no free address/);
    await ipam.release('10.77.3.11', 'someone-else');
    await ipam.release('10.77.3.11', 'b');
    const again = new Ipam(file, s); // as after an agent restart
    assert.equal(await again.allocate('g'), '10.77.3.11');
    const saved = JSON.parse(await readFile(file, 'utf8')) as { allocations: Record<string, string> };
    assert.equal(saved.allocations['10.77.3.14'], 'e');
  });

  test('ports env as the process runtime names it', () => {
    assert.equal(portEnvName('admin-api'), 'DABBA_PORT_ADMIN_API');
    assert.equal(portEnvName('adminApi'), 'DABBA_PORT_ADMIN_API');
    assert.deepEqual(
      portEnv(
        [
          { name: 'http', port: 8080, protocol: 'tcp' },
          { name: 'metrics', port: 9100, protocol: 'tcp' },
        ],
        { http: 8080, metrics: 9100 },
      ),
      { DABBA_PORT_HTTP: '8080', PORT: '8080', DABBA_PORT_METRICS: '9100' },
    );
  });

  test('spec: limits from resources, confinement, the netns by path', () => {
    assert.deepEqual(resources({ cpu: 0.5, memoryBytes: 64 * MiB, pids: 10 }, true), {
      devices: (resources({ cpu: 0, memoryBytes: 0, pids: 0 }, true) as { devices: unknown }).devices,
      memory: { limit: 64 * MiB, swap: 64 * MiB },
      cpu: { quota: 50_000, period: 100_000, shares: 512 },
      pids: { limit: 10 },
    });
    assert.deepEqual(
      (resources({ cpu: 0, memoryBytes: MiB, pids: 0 }, false) as { memory: unknown }).memory,
      { limit: MiB },
    );
    const spec = buildSpec({
      args: ['sh'],
      env: ['A=1'],
      cwd: '/',
      uid: 0,
      gid: 0,
      hostname: 't1',
      netnsPath: '/run/netns/x',
      cgroupsPath: '/dabba/t1',
      resources: { cpu: 0, memoryBytes: 0, pids: 0 },
      hostsFile: '/h',
      hostnameFile: '/n',
      cgroupVersion: 1,
      swapLimit: true,
      nofile: 1024,
    }) as {
      process: { noNewPrivileges: boolean; capabilities: { bounding: string[] } };
      linux: { namespaces: unknown[] };
    };
    assert.equal(spec.process.noNewPrivileges, true);
    assert.ok(!spec.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
    assert.deepEqual(spec.linux.namespaces, [
      { type: 'pid' },
      { type: 'mount' },
      { type: 'uts' },
      { type: 'ipc' },
      { type: 'network', path: '/run/netns/x' },
    ]);
    const seccomp = defaultSeccompProfile('x64');
    assert.equal(seccomp.defaultAction, 'SCMP_ACT_ERRNO');
    const allowed = seccomp.syscalls
      .filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args)
      .flatMap((r) => r.names);
    for (const bad of [
      'mount',
      'unshare',
      'setns',
      'bpf',
      'kexec_load',
      'init_module',
      'ptrace',
      'keyctl',
      'clone3',
    ]) {
      assert.ok(!allowed.includes(bad), `${bad} must not be allowed`);
    }
    for (const good of ['read', 'execve', 'arch_prctl', 'chroot']) assert.ok(allowed.includes(good), good);
  });

  test('lookups inside a rootfs follow symlinks without leaving it', async () => {
    const root = join(dir, 'rootfs');
    await mkdir(join(root, 'bin'), { recursive: true });
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'bin/busybox'), '#!/bin/true\n', { mode: 0o755 });
    await writeFile(join(root, 'bin/data'), 'x', { mode: 0o644 });
    await symlink('/bin/busybox', join(root, 'bin/sh'));
    await symlink('../../../../../../../bin', join(root, 'up'));
    await symlink('/etc/shadow', join(root, 'bin/evil'));
    assert.equal(await resolveInRoot(root, '/bin/sh'), join(root, 'bin/busybox'));
    assert.equal(await resolveInRoot(root, '/up/sh'), join(root, 'bin/busybox'), '.. stops at the root');
    assert.equal(
      await resolveInRoot(root, '/bin/evil'),
      undefined,
      'an absolute link resolves inside the root',
    );
    const PATH = '/usr/bin:/bin';
    assert.equal(await findCommand(root, 'sh', PATH, '/'), '/bin/sh');
    assert.equal(await findCommand(root, '/bin/sh', PATH, '/'), '/bin/sh');
    assert.equal(await findCommand(root, 'data', PATH, '/'), undefined, 'not executable');
    assert.equal(await findCommand(root, 'nope', PATH, '/'), undefined);
    await writeFile(
      join(root, 'etc/passwd'),
      'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n',
    );
    await writeFile(join(root, 'etc/group'), 'root:x:0:\nstaff:x:50:\n');
    assert.deepEqual(await lookupUser(root, ''), { uid: 0, gid: 0 });
    assert.deepEqual(await lookupUser(root, 'app'), { uid: 1000, gid: 1001 });
    assert.deepEqual(await lookupUser(root, 'app:staff'), { uid: 1000, gid: 50 });
    assert.deepEqual(await lookupUser(root, '1000'), { uid: 1000, gid: 1001 });
    assert.deepEqual(await lookupUser(root, '42:7'), { uid: 42, gid: 7 });
    assert.equal(await lookupUser(root, 'ghost'), undefined);
  });
});
