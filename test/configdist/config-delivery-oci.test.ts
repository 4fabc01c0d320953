/**
 * Configs delivered into a real container (`dabba dev` with the oci runtime, busybox): the config's
 * directory is bind-mounted read-only from the task's config directory, so a new version (a rename
 * on the host) is seen inside at the mount path, with its `.version` sidecar, and
 * `onChange: signal:HUP` reaches the container's process.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { DevCluster } from '../helpers/dev-cluster.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { destroyOciDev, ociForTests, startOciDev } from '../helpers/oci-dev.ts';

const { skip: skipOci } = await ociForTests();

describe('configs in containers', { skip: skipOci, timeout: 300_000 }, () => {
  let c: DevCluster | undefined;
  let network = '';
  after(async () => {
    if (!c) return;
    const cluster = c;
    // The job's container, cgroup, network namespace and overlay go through the agent first.
    await cluster.cli(['stop', 'cfg']).catch(() => undefined);
    await waitFor(
      'no task left',
      async () => {
        const r = await cluster.api('GET', '/v1/jobs/cfg/tasks');
        return Array.isArray(r.body) && r.body.length === 0 ? true : undefined;
      },
      60_000,
    ).catch(() => undefined);
    // Whatever is left (a failure half-way): every container re-adopted and removed.
    await destroyOciDev(cluster, network);
  });

  test('the mount path shows each new version inside the container, and SIGHUP arrives', async () => {
    const started = await startOciDev();
    ({ c, network } = started);
    const cluster = started.c;
    const put = async (text: string, message: string): Promise<void> => {
      const f = join(cluster.dataDir, 'settings.json');
      await writeFile(f, text);
      const r = await cluster.cli(['config', 'put', 'app/settings.json', f, '--message', message]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    };
    await put('{"level": 1}\n', 'first');
    const job = join(cluster.dataDir, 'cfg.yaml');
    await writeFile(
      job,
      [
        'name: cfg',
        'replicas: 1',
        'task:',
        '  image: busybox',
        `  command: ["sh", "-c", "trap 'echo hup >> /tmp/hups' HUP; while :; do sleep 1 & wait $!; done"]`,
        '  resources: { cpu: 0.1, memory: 32Mi, pids: 32 }',
        '  stopGracePeriod: 1s',
        '  configs:',
        '    - path: app/settings.json',
        '      mount: /etc/app/settings.json',
        '      onChange: signal:HUP',
        '',
      ].join('\n'),
    );
    const d = await cluster.cli(['deploy', job]);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const task = await waitFor(
      'the task running',
      async () => {
        const r = await cluster.api('GET', '/v1/jobs/cfg/tasks');
        const tasks = r.body as { id: string; state: string }[];
        return tasks[0]?.state === 'running' ? tasks[0].id : undefined;
      },
      120_000,
    );
    const inside = async (file: string): Promise<string> => {
      const r = await cluster.cli(['exec', task, '--', 'cat', file]);
      return r.code === 0 ? r.stdout : `(exit ${r.code}: ${r.stderr.trim()})`;
    };
    assert.equal(await inside('/etc/app/settings.json'), '{"level": 1}\n');
    assert.equal(await inside('/etc/app/settings.json.version'), '1\n');

    await put('{"level": 2}\n', 'second');
    await waitFor(
      'version 2 inside the container',
      async () => ((await inside('/etc/app/settings.json')) === '{"level": 2}\n' ? true : undefined),
      60_000,
    );
    assert.equal(await inside('/etc/app/settings.json.version'), '2\n');
    await waitFor(
      'SIGHUP inside',
      async () => ((await inside('/tmp/hups')).includes('hup') ? true : undefined),
      30_000,
    );

    // Read-only inside: the task cannot change what the config store gave it.
    const w = await cluster.cli(['exec', task, '--', 'sh', '-c', 'echo x > /etc/app/settings.json']);
    assert.notEqual(w.code, 0, 'the config directory is read-only in the container');
  });
});
