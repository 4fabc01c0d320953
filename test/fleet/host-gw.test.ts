/**
 * Host-gw on a 2-host testbed with real containers (oci runtime, the hello image built from the
 * machine's busybox-static): each agent routes the other host's task range via that host's address,
 * so a container on host 0 reaches an HTTP server in a container on host 1 by its task address
 * (busybox wget); the container's route to the task network goes via its bridge's gateway; the
 * mesh for containers (every agent with --mesh-ports): the container calls web by name through its
 * host's proxy at its gateway and host 1's inbound side, gets 403 for an undeclared upstream, and
 * does not reach its host's other ports (web's ingress there, which host 0 itself reaches); once
 * host 1's agent is gone and the host is down, host 0's route to its range is gone.
 * Needs root (network namespaces) and containers; DABBA_SKIP_NETNS=1 or DABBA_SKIP_OCI=1 skips it.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { netnsUnavailable, startTestbed, type Testbed } from '../../scripts/testbed/index.ts';
import { ROUTE_PROTO } from '../../src/agent/peer-routes.ts';
import { buildHelloRootfs } from '../../src/image/builtin-images.ts';
import type { TaskRow } from '../../src/model/index.ts';
import { REPO, waitFor } from '../helpers/dev-cluster.ts';
import { ociForTests } from '../helpers/oci-dev.ts';

const SWEEP = join(REPO, 'scripts', 'testbed', 'oci-sweep.ts');
const skipNetns = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;
const { skip: skipOci } = skipNetns ? { skip: false } : await ociForTests();
const skip = skipNetns || skipOci;

/** The mesh's proxies: every host's listeners from this port (each host is a namespace of its own). */
const MESH_PORTS = 15000;
/** web's ingress port on every host. */
const EXPOSE = 18080;
/** client may call web; web is exposed on every host. */
const DEPS = [
  'services:',
  '  client:',
  '    upstreams:',
  '      web: {}',
  '  web:',
  `    expose: ${EXPOSE}`,
  '',
];

function job(name: string, host: string, command: string[], env: Record<string, string> = {}): string {
  return [
    `name: ${name}`,
    'task:',
    '  image: hello',
    `  command: ${JSON.stringify(command)}`,
    `  env: ${JSON.stringify(env)}`,
    ...(name === 'web' ? ['  ports: [{ name: http, port: 8080 }]'] : []),
    '  resources: { cpu: 0.1, memory: 32Mi, pids: 32 }',
    '  stopGracePeriod: 1s',
    `placement: { constraints: [{ attribute: host.id, equals: ${host} }] }`,
    '',
  ].join('\n');
}

interface RouteJson {
  dst: string;
  gateway?: string;
}

describe(
  'host-gw: task ranges routed between hosts (containers on a 2-host testbed)',
  { skip, timeout: 420_000 },
  () => {
    let tb: Testbed | undefined;

    const running = async (t: Testbed, name: string): Promise<TaskRow> =>
      waitFor(
        `${name} running with an address`,
        async () => {
          const rows = await t.api<TaskRow[]>(`/v1/jobs/${name}/tasks`).catch(() => []);
          const row = rows.find((r) => r.state === 'running' && r.address !== null);
          return row;
        },
        180_000,
      );
    const peerRoutes = async (t: Testbed, i: number): Promise<RouteJson[]> => {
      const r = await t.exec(i, ['ip', '-j', 'route', 'show', 'table', 'main', 'proto', String(ROUTE_PROTO)]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout || '[]') as RouteJson[];
    };

    after(async () => {
      const t = tb;
      if (t === undefined) return;
      const problems: string[] = [];
      try {
        // The containers go through their agents first (host 1's is started again if it was stopped).
        if (t.hosts[1]?.pid === undefined)
          await t.startAgent(1).catch((e: unknown) => problems.push(String(e)));
        for (const name of ['web', 'client']) await t.cli(['stop', name]).catch(() => undefined);
        await waitFor(
          'no task left',
          async () => {
            for (const name of ['web', 'client']) {
              const rows = await t.api<TaskRow[]>(`/v1/jobs/${name}/tasks`).catch(() => [{}]);
              if (rows.length > 0) return undefined;
            }
            return true;
          },
          120_000,
        ).catch((e: unknown) => problems.push(String(e)));
        // Whatever is left (a failure half-way): removed inside each host's namespace, agents gone.
        for (const h of t.hosts) {
          await t.killAgent(h.index);
          const r = await t.exec(h.index, [process.execPath, SWEEP, h.dataDir], 180_000);
          if (r.code !== 0) problems.push(`sweep of ${h.id}: ${r.stderr}`);
          else if (!r.stdout.includes('"removed":0'))
            problems.push(`sweep of ${h.id} removed leftovers: ${r.stdout}`);
        }
      } finally {
        await t.stop();
      }
      assert.deepEqual(problems, [], 'clean teardown');
    });

    test('a task reaches a task on another host by its address; the route goes with the host', async () => {
      const why = netnsUnavailable();
      if (why !== undefined) throw new Error(why);
      tb = await startTestbed({ hosts: 2, containers: true, readyTimeoutMs: 120_000, meshPorts: MESH_PORTS });
      const t = tb;
      const rootfs = join(t.stateDir, 'tmp', 'hello-rootfs');
      await mkdir(rootfs, { recursive: true });
      await buildHelloRootfs(rootfs);
      const img = await t.cli(['image', 'create', 'hello', '--from-dir', rootfs], { timeoutMs: 120_000 });
      assert.equal(img.code, 0, img.stdout + img.stderr);

      const [a, b] = t.hosts;
      assert.ok(a && b);
      const views = await t.hostViews();
      const rangeA = views.find((v) => v.id === a.id)?.subnet;
      const rangeB = views.find((v) => v.id === b.id)?.subnet;
      assert.ok(rangeA !== undefined && rangeB !== undefined && rangeA !== rangeB, `${rangeA} and ${rangeB}`);

      // Each host routes the other's range via its address (as soon as both have registered).
      await waitFor('host 0 routes host 1 range', async () => {
        const routes = await peerRoutes(t, 0);
        return routes.some((r) => r.dst === rangeB && r.gateway === b.address) ? true : undefined;
      });
      await waitFor('host 1 routes host 0 range', async () => {
        const routes = await peerRoutes(t, 1);
        return routes.some((r) => r.dst === rangeA && r.gateway === a.address) ? true : undefined;
      });

      // The dependency file first: client's tasks get their DABBA_UPSTREAM_WEB when they start.
      const applied = await t.cli([
        'mesh',
        'apply',
        t.writeJob('deps', DEPS.join('\n')),
        '-m',
        'client calls web',
      ]);
      assert.equal(applied.code, 0, applied.stdout + applied.stderr);
      await waitFor(
        "host 0's proxy has client's routes",
        async () =>
          (await readFile(join(a.dataDir, 'mesh', 'haproxy.cfg'), 'utf8').catch(() => '')).includes(
            'be_client__web',
          )
            ? true
            : undefined,
        60_000,
      );

      for (const [name, yaml] of [
        ['web', job('web', b.id, ['httpd', '-f', '-p', '8080', '-h', '/www'], { GREETING: 'hi-b' })],
        ['client', job('client', a.id, ['sh', '-c', 'while :; do sleep 1; done'])],
      ] as const) {
        const d = await t.cli(['deploy', t.writeJob(name, yaml)], { timeoutMs: 60_000 });
        assert.equal(d.code, 0, d.stdout + d.stderr);
      }
      const web = await running(t, 'web');
      const client = await running(t, 'client');
      assert.equal(web.host, b.id);
      assert.equal(client.host, a.id);

      // Inside the container: the task network goes via the bridge's gateway.
      const routes = await t.cli(['exec', client.id, '--', 'ip', 'route'], { timeoutMs: 60_000 });
      assert.equal(routes.code, 0, routes.stderr);
      const gateway = (rangeA ?? '').replace(/\.0\/\d+$/, '.1');
      assert.match(
        routes.stdout,
        new RegExp(`^\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+ via ${gateway.replace(/\./g, '\\.')} `, 'm'),
        routes.stdout,
      );

      // Task to task across hosts, by the task's own address (retried: the server may still start).
      const url = `http://${web.address ?? ''}:8080/`;
      const answer = await waitFor(
        `client on ${a.id} reaches web on ${b.id} at ${url}`,
        async () => {
          // busybox 1.35's wget crashes with -T: its timeout comes from `timeout`.
          const r = await t.cli(['exec', client.id, '--', 'timeout', '10', 'wget', '-q', '-O', '-', url], {
            timeoutMs: 60_000,
          });
          return r.code === 0 ? r.stdout : undefined;
        },
        120_000,
      );
      assert.match(answer, /hi-b from /);
      // Only task-network addresses are forwarded to tasks: host 0 itself (its own address as the
      // source) gets no answer from the task on host 1, though its route leads there.
      const fromHost = await t.exec(0, ['timeout', '5', 'busybox', 'wget', '-q', '-O', '-', url], 60_000);
      assert.notEqual(fromHost.code, 0, fromHost.stdout);
      assert.doesNotMatch(fromHost.stdout, /hi-b/);

      await throughTheMesh(t, { client: client.id, gateway, hostAddress: a.address });

      // Host 1's agent stops; once the host is down, host 0 no longer routes its range.
      await t.killAgent(1);
      await t.waitHosts('down', [b.id], 60_000);
      await waitFor(
        'host 0 route to host 1 range gone',
        async () => ((await peerRoutes(t, 0)).some((r) => r.dst === rangeB) ? undefined : true),
        60_000,
      );
    });
  },
);

/** Runs `sh -c SCRIPT` in a container (with its task's environment). */
async function inTask(
  t: Testbed,
  task: string,
  script: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return t.cli(['exec', task, '--', 'sh', '-c', script], { timeoutMs: 60_000 });
}

/**
 * The mesh for containers: client (host 0) calls web (host 1) by name through its host's proxy at
 * its bridge's gateway, then host 1's inbound side; 403 for an undeclared upstream; the host's other
 * ports are out of the container's reach (web's ingress port answers host 0 itself, not the task).
 */
async function throughTheMesh(
  t: Testbed,
  o: { client: string; gateway: string; hostAddress: string },
): Promise<void> {
  const env = await inTask(t, o.client, 'echo "$DABBA_UPSTREAM_WEB $DABBA_MESH"');
  assert.equal(env.code, 0, env.stderr);
  const [upstream, mesh] = env.stdout.trim().split(' ');
  const atGateway = new RegExp(`^http://${o.gateway.replace(/\./g, '\\.')}:\\d+$`);
  assert.match(upstream ?? '', atGateway, env.stdout);
  assert.match(mesh ?? '', atGateway, env.stdout);
  // busybox 1.35's wget crashes with -T: its timeout comes from `timeout`.
  const byName = await waitFor(
    `client reaches web at ${upstream ?? ''}`,
    async () => {
      const r = await inTask(t, o.client, 'timeout 10 wget -q -O - "$DABBA_UPSTREAM_WEB/"');
      return r.code === 0 ? r.stdout : undefined;
    },
    120_000,
  );
  assert.match(byName, /hi-b from /);
  const byHost = await inTask(t, o.client, `timeout 10 wget -q -O - --header 'Host: web' "$DABBA_MESH/"`);
  assert.match(byHost.stdout, /hi-b from /, byHost.stderr);
  const refused = await inTask(t, o.client, `timeout 10 wget -q -O - --header 'Host: cache' "$DABBA_MESH/"`);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /403/, refused.stdout + refused.stderr);
  // Ingress: web on host 1 at host 0's address (through host 1's inbound side)...
  const ingress = `http://${o.hostAddress}:${String(EXPOSE)}/`;
  const fromHost = await waitFor(
    `host 0 reaches web through its ingress at ${ingress}`,
    async () => {
      const r = await t.exec(0, ['timeout', '10', 'busybox', 'wget', '-q', '-O', '-', ingress], 60_000);
      return r.code === 0 ? r.stdout : undefined;
    },
    60_000,
  );
  assert.match(fromHost, /hi-b from /);
  // ...but not from the container: its host is reachable at the proxy's listener ports only.
  const blocked = await inTask(t, o.client, `timeout 5 wget -q -O - ${ingress}`);
  assert.notEqual(blocked.code, 0, blocked.stdout);
  assert.doesNotMatch(blocked.stdout, /hi-b/);
}
