/**
 * Remediation's `restart-runtime` end to end: a real server (SQLite store, remediation loop) and a
 * real agent on the oci runtime (runc, a bridge and /24 of the test's own). The task bridge is
 * deleted under a running container: the agent's self-check reports RuntimeBroken, a rule with
 * `do: restart-runtime` fires, the agent sets the runtime up again (the bridge, its address and
 * rules) and re-adopts the container without stopping it (same pid, no restart, plugged into the new
 * bridge and answering again), the condition clears and `dabba remediation log` says done and why.
 * Then with fake runtimes on two more agents: a dry-run rule only logs, a restart that fails is
 * logged as failed with the agent's reason. Runs as root with runc; fails (not skips) elsewhere
 * unless DABBA_SKIP_OCI=1.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent, type RunningAgent } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import type { HostView, RemediationRecord } from '../../src/model/index.ts';
import { FakeRuntime } from '../../src/runtime/fake/index.ts';
import { OciRuntime } from '../../src/runtime/oci/index.ts';
import { runTool } from '../../src/runtime/oci/tool.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { cli, waitFor } from '../helpers/dev-cluster.ts';
import {
  freeNetwork,
  ociAvailable,
  removeDir,
  removeTestImages,
  reportUnavailable,
  testImages,
} from '../oci/oci-fixture.ts';

const CAPACITY = { cpu: 2, memoryBytes: 1024 ** 3, pids: 1000 };

function rules(dryRun: boolean): unknown {
  return {
    rules: [
      {
        name: 'broken-runtimes',
        when: { host: { condition: 'RuntimeBroken', for: '1s' } },
        do: 'restart-runtime',
        limit: { max: 5, per: '30m' },
        dryRun,
      },
    ],
  };
}

async function hostView(t: TestServer, id: string): Promise<HostView | undefined> {
  return (await t.client.hosts()).find((h) => h.id === id);
}

/** The first record of the rule for the host with one of `outcomes`. */
async function recordFor(
  t: TestServer,
  host: string,
  outcomes: RemediationRecord['outcome'][],
): Promise<RemediationRecord> {
  return waitFor(`a remediation record for ${host}`, async () =>
    (await t.client.remediation().log()).find(
      (r) => r.target === `host:${host}` && outcomes.includes(r.outcome),
    ),
  );
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.text();
    return res.status === 200;
  } catch {
    return false;
  }
}

const available = await ociAvailable('runc');
if (!available.run) reportUnavailable(available.reason);
else {
  describe('restart-runtime mends a broken oci runtime; the container lives on', { timeout: 240_000 }, () => {
    let t: TestServer;
    let dir = '';
    let net = { bridge: '', subnet: '' };
    let runtime: OciRuntime | undefined;
    let agent: RunningAgent | undefined;
    const hostId = 'rr-oci';

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'dabba-restart-runtime-'));
      net = await freeNetwork();
      t = await startTestServer('restart-runtime', { remediationIntervalMs: 300 });
      const { store: images } = await testImages();
      runtime = new OciRuntime({
        stateDir: join(dir, 'oci'),
        images,
        network: net,
        logger: silentLogger,
        ociRuntime: 'runc',
      });
      agent = await startAgent({
        client: t.client,
        runtime,
        hostId,
        labels: {},
        dataDir: join(dir, 'agent'),
        logger: silentLogger,
        capacity: CAPACITY,
        runtimeCheckMs: 300,
      });
    });

    after(async () => {
      const problems: unknown[] = [];
      const attempt = async (fn: () => Promise<unknown>): Promise<void> => {
        try {
          await fn();
        } catch (e) {
          problems.push(e);
        }
      };
      await attempt(async () => agent?.close({ stopTasks: true }));
      await attempt(async () => runtime?.close());
      if (dir !== '') {
        // Whatever is left: adopted, stopped and removed; then the bridge and its rules.
        await attempt(async () => {
          const { store: images } = await testImages();
          const sweeper = new OciRuntime({
            stateDir: join(dir, 'oci'),
            images,
            network: net,
            logger: silentLogger,
            ociRuntime: 'runc',
          });
          try {
            const { running, exited } = await sweeper.recover();
            for (const { taskId } of [...running, ...exited]) {
              await sweeper.stop(taskId, 0);
              await sweeper.remove(taskId);
            }
            await (await sweeper.network()).destroyBridge();
          } finally {
            await sweeper.close();
          }
        });
      }
      await attempt(async () => t?.close());
      await attempt(() => removeTestImages());
      if (dir !== '') await attempt(() => removeDir(dir));
      if (net.bridge !== '' && (await runTool('ip', ['link', 'show', net.bridge])).code === 0)
        problems.push(new Error(`bridge ${net.bridge} is still there`));
      if (problems.length > 0) throw problems[0];
    });

    test('bridge deleted: RuntimeBroken, the rule restarts the runtime, the condition clears, the task is kept', async () => {
      await t.client.putJob('web', {
        name: 'web',
        task: {
          image: 'hello',
          command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
          resources: { cpu: 0.1, memory: '32Mi', pids: 32 },
          ports: [{ name: 'http', port: 8080 }],
          stopGracePeriod: '1s',
        },
      });
      const before = await waitFor('web running with an address', async () => {
        const r = (await t.client.jobTasks('web')).find((x) => x.state === 'running');
        return r && r.address !== null && r.pid !== null ? r : undefined;
      });
      const url = `http://${before.address ?? ''}:8080/`;
      await waitFor('the task answers from the host', () => answers(url));
      await t.client.remediation().apply(rules(false), 'restart broken runtimes');

      const del = await runTool('ip', ['link', 'del', net.bridge]);
      assert.equal(del.code, 0, del.stderr);

      const record = await recordFor(t, hostId, ['done', 'failed']);
      assert.equal(record.outcome, 'done', record.detail);
      assert.equal(record.action, 'restart-runtime');
      assert.match(
        record.reason,
        new RegExp(
          `^host ${hostId} RuntimeBroken: the oci runtime: the task bridge ${net.bridge} is missing`,
        ),
      );
      assert.match(
        record.detail ?? '',
        new RegExp(
          `^agent: runc set up again \\(bridge ${net.bridge} up\\); 1 running container re-adopted, 1 plugged into the bridge again$`,
        ),
      );
      await waitFor('the condition clears', async () => {
        const h = await hostView(t, hostId);
        return h !== undefined && (h.conditions ?? []).length === 0;
      });
      assert.equal((await runTool('ip', ['link', 'show', net.bridge])).code, 0, 'the bridge is back');
      await waitFor('the task answers through the new bridge', () => answers(url));
      const now = (await t.client.jobTasks('web')).find((x) => x.id === before.id);
      assert.equal(now?.state, 'running');
      assert.equal(now?.pid, before.pid, 'the same process: not restarted');
      assert.equal(now?.restarts, before.restarts);

      const log = await cli(['remediation', 'log'], { addr: t.server.url });
      assert.equal(log.code, 0, log.stderr);
      assert.match(log.stdout, /broken-runtimes/);
      assert.match(log.stdout, /restart-runtime/);
      assert.match(log.stdout, /re-adopted/);
    });
  });
}

describe(
  'restart-runtime: dry-run only logs; a failed restart is logged with the reason',
  { timeout: 120_000 },
  () => {
    let t: TestServer;
    const runtimes = new Map([
      ['rr-ok', new FakeRuntime()],
      ['rr-bad', new FakeRuntime()],
    ]);
    const agents: RunningAgent[] = [];
    const fake = (id: string): FakeRuntime => {
      const r = runtimes.get(id);
      if (r === undefined) throw new Error(`no runtime ${id}`);
      return r;
    };

    before(async () => {
      t = await startTestServer('restart-runtime-fake', { remediationIntervalMs: 200 });
      for (const [id, runtime] of runtimes) {
        agents.push(
          await startAgent({
            client: t.client,
            runtime,
            hostId: id,
            labels: {},
            dataDir: join(t.dir, id),
            logger: silentLogger,
            capacity: CAPACITY,
            runtimeCheckMs: 200,
          }),
        );
      }
    });
    after(async () => {
      for (const a of agents) await a.close({ stopTasks: true }).catch(() => undefined);
      await t?.close();
    });

    test('dry-run logs and restarts nothing; then one restart mends its host, the other fails and says why', async () => {
      fake('rr-bad').restartFails = 'crun: cannot mount the hugetlb cgroup: permission denied';
      for (const r of runtimes.values()) r.broken = 'crun list (state root /run/crun) failed with exit 1';
      await t.client.remediation().apply(rules(true), 'look first');
      for (const id of runtimes.keys()) await recordFor(t, id, ['dry-run']);
      for (const r of runtimes.values()) assert.equal(r.restarts, 0, 'a dry run restarts nothing');

      await t.client.remediation().apply(rules(false), 'now for real');
      const ok = await recordFor(t, 'rr-ok', ['done', 'failed']);
      assert.equal(ok.outcome, 'done', ok.detail);
      assert.equal(ok.detail, 'agent: fake runtime set up again');
      const bad = await recordFor(t, 'rr-bad', ['done', 'failed']);
      assert.equal(bad.outcome, 'failed');
      assert.equal(
        bad.detail,
        'the agent of host rr-bad could not restart its runtime: crun: cannot mount the hugetlb cgroup: permission denied',
      );
      await waitFor(
        'rr-ok is mended',
        async () => ((await hostView(t, 'rr-ok'))?.conditions ?? []).length === 0,
      );
      assert.ok(
        (await hostView(t, 'rr-bad'))?.conditions?.some((c) => c.type === 'RuntimeBroken'),
        'rr-bad is still broken',
      );
      assert.equal(fake('rr-ok').restarts, 1);
      assert.equal(fake('rr-bad').restarts, 1, 'a failed restart is not retried at once');
      const left = await t.store.range('/hostcmds/');
      assert.equal(left.kvs.length, 0, 'answered commands are deleted');
    });
  },
);
