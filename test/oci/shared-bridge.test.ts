/**
 * Two oci agents on one machine, one server, one bridge: each host gets its own range of the task
 * network from the server (nothing configured on the agents), both gateway addresses sit on the
 * shared bridge, the tasks of each agent get addresses from its own range, both answer from the
 * host and from each other, and an agent restarted keeps its range and adopts its task. Runs as
 * root with runc; fails (not skips) elsewhere unless DABBA_SKIP_OCI=1.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent, type RunningAgent } from '../../src/agent/index.ts';
import { DabbaClient } from '../../src/client/index.ts';
import { shortId, silentLogger } from '../../src/lib/index.ts';
import type { TaskRow } from '../../src/model/index.ts';
import { OciRuntime } from '../../src/runtime/oci/index.ts';
import { runTool } from '../../src/runtime/oci/tool.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import { SqliteStore } from '../../src/store/index.ts';
import { ociAvailable, removeDir, removeTestImages, reportUnavailable, testImages } from './oci-fixture.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { TEST_ADMIN_TOKEN } from '../helpers/auth.ts';

/** A /23 in 10.190-199.x.0 nobody routes yet (other tests use 10.88-89, 10.200-251). */
async function freeTaskNetwork(): Promise<{ a: number; b: number }> {
  const routes = (await runTool('ip', ['-j', 'route', 'show'])).stdout;
  for (let i = 0; i < 50; i++) {
    const a = 190 + Math.floor(Math.random() * 10);
    const b = 2 * Math.floor(Math.random() * 128);
    if (routes.includes(`"10.${a}.${b}.`) || routes.includes(`"10.${a}.${b + 1}.`)) continue;
    return { a, b };
  }
  throw new Error('no free task network found');
}

async function httpGet(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  assert.equal(res.status, 200);
  return res.text();
}

function inRange(address: string, cidr: string): boolean {
  const [net] = cidr.split('/');
  return address.split('.').slice(0, 3).join('.') === net?.split('.').slice(0, 3).join('.');
}

const available = await ociAvailable('runc');
if (!available.run) reportUnavailable(available.reason);
else {
  describe('two oci agents on one machine share a bridge', { timeout: 120_000 }, () => {
    const bridge = `dbs${shortId(8)}`;
    let dir = '';
    let net = { a: 0, b: 0 };
    let store: SqliteStore | undefined;
    let server: RunningServer | undefined;
    let client: DabbaClient;
    const runtimes: OciRuntime[] = [];
    const agents = new Map<string, RunningAgent>();
    const hosts = ['neta', 'netb'] as const;

    async function boot(hostId: string): Promise<RunningAgent> {
      const { store: images } = await testImages();
      // No subnet: the range is the server's for this host.
      const runtime = new OciRuntime({
        stateDir: join(dir, hostId, 'oci'),
        images,
        network: { bridge },
        logger: silentLogger,
        ociRuntime: 'runc',
      });
      runtimes.push(runtime);
      const agent = await startAgent({
        client,
        runtime,
        hostId,
        labels: {},
        dataDir: join(dir, hostId),
        logger: silentLogger,
        capacity: { cpu: 2, memoryBytes: 1024 ** 3, pids: 1000 },
      });
      agents.set(hostId, agent);
      return agent;
    }

    async function tasksOf(job: string): Promise<TaskRow[]> {
      return client.jobTasks(job);
    }

    async function runningTask(job: string): Promise<TaskRow & { address: string; pid: number }> {
      return waitFor(`${job} running with an address`, async () => {
        const t = (await tasksOf(job)).find((x) => x.state === 'running' && x.ready);
        return t && t.address !== null && t.pid !== null
          ? { ...t, address: t.address, pid: t.pid }
          : undefined;
      });
    }

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'dabba-shared-bridge-'));
      net = await freeTaskNetwork();
      store = await SqliteStore.open(join(dir, 'store.db'));
      server = await startServer({
        auth: { adminToken: TEST_ADMIN_TOKEN },
        store,
        storeName: 'sqlite',
        host: '127.0.0.1',
        port: 0,
        logger: silentLogger,
        hostTtlSeconds: 10,
        taskNetwork: `10.${net.a}.${net.b}.0/23`,
        hostSubnetSize: 24,
      });
      client = new DabbaClient({ token: TEST_ADMIN_TOKEN, addr: server.url });
      // Both at once: the bridge is created by one and joined by the other.
      await Promise.all(hosts.map((h) => boot(h)));
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
      for (const a of agents.values()) await attempt(() => a.close({ stopTasks: true }));
      for (const r of runtimes) await attempt(() => r.close());
      // Whatever is left of either agent: adopt it and remove it; then the bridge and its rules.
      if (dir !== '') {
        const { store: images } = await testImages();
        for (const h of hosts) {
          await attempt(async () => {
            const sweeper = new OciRuntime({
              stateDir: join(dir, h, 'oci'),
              images,
              network: { bridge, subnet: `10.${net.a}.${net.b}.0/24` },
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
      }
      await attempt(async () => server?.close());
      await attempt(async () => store?.close());
      await attempt(() => removeTestImages());
      if (dir !== '') await attempt(() => removeDir(dir));
      const links = (await runTool('ip', ['link', 'show', bridge])).code;
      if (links === 0) problems.push(new Error(`bridge ${bridge} is still there`));
      if (problems.length > 0) throw problems[0];
    });

    test('each host has its own range; both gateways are on the one bridge', async () => {
      const views = await client.hosts();
      const ranges = hosts.map((h) => views.find((v) => v.id === h)?.subnet);
      assert.deepEqual(
        [...ranges].sort(),
        [`10.${net.a}.${net.b}.0/24`, `10.${net.a}.${net.b + 1}.0/24`],
        'two distinct /24s of the task network',
      );
      const show = await runTool('ip', ['-j', 'addr', 'show', 'dev', bridge]);
      assert.equal(show.code, 0, show.stderr);
      const addrs = (
        JSON.parse(show.stdout) as { addr_info: { family: string; local: string; prefixlen: number }[] }[]
      )
        .flatMap((l) => l.addr_info)
        .filter((a) => a.family === 'inet')
        .map((a) => `${a.local}/${a.prefixlen}`)
        .sort();
      assert.deepEqual(addrs, [`10.${net.a}.${net.b}.1/24`, `10.${net.a}.${net.b + 1}.1/24`]);
    });

    test("each agent's task gets an address in its host's range; both answer, also each other", async () => {
      for (const h of hosts) {
        await client.putJob(`web-${h}`, {
          name: `web-${h}`,
          task: {
            image: 'hello',
            command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
            env: { GREETING: `hi-${h}` },
            resources: { cpu: 0.1, memory: '32Mi', pids: 32 },
            ports: [{ name: 'http', port: 8080 }],
            health: { readiness: { http: { port: 'http', path: '/' }, interval: '300ms' } },
            stopGracePeriod: '1s',
          },
          placement: { constraints: [{ attribute: 'host.id', equals: h }] },
          update: { minHealthy: '0s' },
        });
      }
      const views = await client.hosts();
      const tasks = [];
      for (const h of hosts) {
        const t = await runningTask(`web-${h}`);
        const range = views.find((v) => v.id === h)?.subnet ?? '';
        assert.equal(t.host, h);
        assert.ok(inRange(t.address, range), `${t.address} of ${h} is in ${range}`);
        assert.match(await httpGet(`http://${t.address}:8080/`), new RegExp(`hi-${h} from `));
        tasks.push({ ...t, range });
      }
      const [ta, tb] = tasks;
      assert.ok(ta && tb);
      assert.notEqual(ta.range, tb.range);
      // Across ranges on the bridge, without the host forwarding: the on-link route.
      const i = runtimes.findIndex((r) => r.stateDir === join(dir, 'neta', 'oci'));
      const rt = runtimes[i];
      assert.ok(rt);
      const r = await rt.exec(ta.id, ['wget', '-q', '-O', '-', `http://${tb.address}:8080/`], 10_000);
      assert.equal(r.exitCode, 0, r.output);
      assert.match(r.output, /hi-netb from /);
    });

    test('an agent restarted keeps its range and adopts its task', async () => {
      const before = await runningTask('web-neta');
      const range = (await client.hosts()).find((v) => v.id === 'neta')?.subnet;
      await agents.get('neta')?.close();
      agents.delete('neta');
      await boot('neta');
      assert.equal((await client.hosts()).find((v) => v.id === 'neta')?.subnet, range);
      const ipam = JSON.parse(await readFile(join(dir, 'neta', 'oci', 'ipam.json'), 'utf8')) as {
        subnet: string;
        allocations: Record<string, string>;
      };
      assert.equal(ipam.subnet, range);
      assert.equal(ipam.allocations[before.address], before.id);
      const after = await runningTask('web-neta');
      assert.equal(after.id, before.id);
      assert.equal(after.pid, before.pid, 'the same container, adopted');
      assert.match(await httpGet(`http://${after.address}:8080/`), /hi-neta from /);

      for (const h of hosts) await client.stopJob(`web-${h}`);
      for (const h of hosts) {
        await waitFor(`web-${h} stopped`, async () =>
          (await tasksOf(`web-${h}`)).every((t) => t.state === 'stopped' || t.state === 'failed')
            ? true
            : undefined,
        );
      }
    });
  });
}
