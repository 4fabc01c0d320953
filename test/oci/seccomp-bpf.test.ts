/**
 * crun gets the seccomp profile precompiled: the first task's config.json carries the profile and
 * crun compiles it; the program crun loaded is kept (STATE/seccomp/), and the next task's
 * config.json carries that program in crun's `run.oci.seccomp_bpf_data` annotation instead of the
 * profile, and runs under it (a filter in place). Runs as root with crun; fails (not skips)
 * elsewhere unless DABBA_SKIP_OCI=1.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  busyboxSpec,
  ociAvailable,
  ociFixture,
  removeTestImages,
  reportUnavailable,
  taskId,
  type OciFixture,
} from './oci-fixture.ts';

interface Config {
  annotations?: Record<string, string>;
  linux: { seccomp?: { syscalls: unknown[] } };
}

const available = await ociAvailable('crun');
if (!available.run) reportUnavailable(available.reason);
else {
  describe('crun gets the seccomp profile compiled to BPF once', { timeout: 60_000 }, () => {
    let fx: OciFixture;
    const ids: string[] = [];
    before(async () => {
      fx = await ociFixture({ ociRuntime: 'crun' });
    });
    after(async () => {
      for (const id of ids) await fx.runtime.remove(id).catch(() => undefined);
      await fx.cleanup();
      await removeTestImages();
    });

    const config = async (id: string): Promise<Config> =>
      JSON.parse(await readFile(join(fx.stateDir, 'tasks', id, 'config.json'), 'utf8')) as Config;

    test('the first task compiles it, the next ones get the program and run under it', async () => {
      const rt = fx.runtime;
      const a = taskId('sb');
      ids.push(a);
      await rt.start({ taskId: a, job: 'sb', version: 1, spec: busyboxSpec(['sleep', '600']), env: {} });
      const first = await config(a);
      assert.ok((first.linux.seccomp?.syscalls.length ?? 0) > 10, 'the first task gets the profile');
      assert.equal(first.annotations?.['run.oci.seccomp_bpf_data'], undefined);
      const compiled = await readFile(join(fx.stateDir, 'runtime', a, 'seccomp.bpf'));
      const kept = await readdir(join(fx.stateDir, 'seccomp'));
      assert.equal(kept.length, 1, kept.join(', '));

      const b = taskId('sb');
      ids.push(b);
      await rt.start({ taskId: b, job: 'sb', version: 1, spec: busyboxSpec(['sleep', '600']), env: {} });
      const second = await config(b);
      assert.equal(second.linux.seccomp, undefined, 'no profile to parse');
      const data = second.annotations?.['run.oci.seccomp_bpf_data'] ?? '';
      assert.ok(Buffer.from(data, 'base64').equals(compiled), 'the program crun compiled from the profile');
      const status = await rt.exec(b, ['cat', '/proc/self/status'], 10_000);
      assert.match(status.output, /^Seccomp:\s+2$/m);
      assert.match(status.output, /^Seccomp_filters:\s+1$/m);

      // A new runtime instance on the same state (an agent restart) uses the kept program at once.
      const rt2 = fx.make();
      const c = taskId('sb');
      ids.push(c);
      await rt2.start({ taskId: c, job: 'sb', version: 1, spec: busyboxSpec(['sleep', '600']), env: {} });
      assert.equal((await config(c)).annotations?.['run.oci.seccomp_bpf_data'], data);
      await rt2.remove(c);
    });
  });
}
