/**
 * examples/kv on the testbed (4 hosts in network namespaces, 2 racks, real agents, process
 * runtime): three shard jobs of 3 replicas with their data on volumes, and the example's
 * controller (examples/kv/controller.ts) running as a process on the bridge. With the controller,
 * a rolling update of all 9 replicas and then maintenance of 2 hosts at once never have two
 * replicas of one shard down at the same moment (Dabba's status sampled every ~100 ms), the data
 * stays readable throughout (reads sampled), and both finish; replicas moved off the hosts copy
 * their shard from a peer. A host killed outright: the controller is told, acknowledges, and only
 * then are its replicas replaced (the controller's own log against the task events). The same
 * rolling update with the controller removed does take a shard down (so the check can fail).
 * Needs root (network namespaces); DABBA_SKIP_NETNS=1 skips it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DabbaClient } from '../../src/client/index.ts';
import type { JobView } from '../../src/model/index.ts';
import { netnsUnavailable, startTestbed, type Testbed } from '../../scripts/testbed/index.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import {
  allUp,
  isUp,
  kvJob,
  readFrom,
  replicaStatus,
  replicaUrl,
  SHARD_JOBS,
  startKvController,
  testbedClient,
  writeKeys,
  type KvController,
} from './kv-fixture.ts';
import { Reader, Sampler } from './kv-watch.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;
const KEYS = 24;

describe(
  'examples/kv and its controller on the testbed (4 hosts, 2 racks)',
  { skip, timeout: 1_800_000 },
  () => {
    let tb: Testbed;
    let client: DabbaClient;
    let controller: KvController;
    let keys: Map<string, { job: string; value: string }>;
    const watchers: { stop(): Promise<void> }[] = [];

    async function deployAll(release: string, withController: boolean): Promise<void> {
      for (const job of SHARD_JOBS) {
        const file = tb.writeJob(
          job,
          kvJob(job, {
            discovery: controller.discovery,
            release,
            ...(withController ? { controller: controller.url } : {}),
          }),
        );
        const r = await tb.cli(['deploy', '--detach', file]);
        assert.equal(r.code, 0, `deploy ${job}: ${r.stdout}${r.stderr}`);
      }
    }

    /** Runs `fn` while the sampler and the reader watch. */
    async function watched(fn: () => Promise<void>): Promise<{ sampler: Sampler; reader: Reader }> {
      const sampler = new Sampler(client);
      const reader = new Reader(client, sampler, keys);
      watchers.push(sampler, reader);
      sampler.start();
      reader.start();
      try {
        await fn();
      } finally {
        await reader.stop();
        await sampler.stop();
      }
      return { sampler, reader };
    }

    function assertHeld(sampler: Sampler, reader: Reader, what: string): void {
      assert.ok(sampler.samples > 20, `${what}: sampled ${sampler.samples} times`);
      assert.deepEqual(sampler.violations, [], `${what}: no shard had two replicas down`);
      assert.ok(reader.ok > 20, `${what}: ${reader.ok} reads`);
      assert.deepEqual(reader.failures, [], `${what}: every read found its value`);
    }

    /** Every replica of every shard answers every key of its shard, and says where its data came from. */
    async function checkData(): Promise<Map<string, string>> {
      const origins = new Map<string, string>();
      for (const job of SHARD_JOBS) {
        const tasks = (await client.jobTasks(job)).filter(isUp);
        const mine = [...keys].filter(([, k]) => k.job === job);
        for (const t of tasks) {
          const s = await replicaStatus(t);
          assert.ok(s, `${t.id} answers its status`);
          assert.equal(s.state, 'serving');
          assert.equal(s.keys, mine.length, `${t.id} (${s.origin}) holds the ${mine.length} keys of ${job}`);
          origins.set(t.id, s.origin);
          for (const [key, { value }] of mine) {
            const r = await readFrom(replicaUrl(t) ?? '', key);
            assert.equal(r.value, value, `${t.id} reads ${key}: ${r.error ?? ''}`);
          }
        }
      }
      return origins;
    }

    function acked(): Set<string> {
      return new Set(controller.entries().flatMap((e) => (e.msg === 'ack' ? (e.ids ?? []) : [])));
    }

    before(async () => {
      const why = netnsUnavailable();
      if (why !== undefined) throw new Error(why);
      tb = await startTestbed({ hosts: 4, racks: 2, hostTimeout: '3s' });
      client = testbedClient(tb);
      controller = await startKvController(tb);
      await deployAll('1', true);
      await allUp(client, 1);
      keys = await writeKeys(client, KEYS);
      assert.equal(
        new Set([...keys.values()].map((k) => k.job)).size,
        SHARD_JOBS.length,
        'keys on every shard',
      );
    });

    after(async () => {
      for (const w of watchers) await w.stop().catch(() => undefined);
      await controller?.stop();
      await tb?.stop();
    });

    test('a rolling update of all 9 replicas under the controller keeps 2 of 3 up per shard, data readable', async () => {
      const old = new Set<string>();
      for (const job of SHARD_JOBS) for (const t of await client.jobTasks(job)) old.add(t.id);
      const t0 = Date.now();
      const { sampler, reader } = await watched(async () => {
        await deployAll('2', true);
        await allUp(client, 2);
      });
      console.log(
        `kv rolling update: ${((Date.now() - t0) / 1000).toFixed(1)} s, ${sampler.samples} samples, ${reader.ok} reads`,
      );
      assertHeld(sampler, reader, 'rolling update');
      assert.ok(sampler.sawWaiting, 'status showed replaces waiting on the controller');
      const acks = acked();
      for (const id of old) assert.ok(acks.has(`replace:${id}`), `the controller allowed replace:${id}`);
      // maxSurge 0 and volumes: each new replica started on its slot's host and found the shard there.
      const origins = await checkData();
      assert.deepEqual(
        new Set(origins.values()),
        new Set(['volume']),
        'every replica kept its data on its volume',
      );
    });

    test('maintenance of 2 hosts at once keeps 2 of 3 up per shard; moved replicas copy their shard', async () => {
      const targets = ['tb-0', 'tb-1']; // one per rack
      const moved = new Set<string>();
      for (const job of SHARD_JOBS) {
        for (const t of await client.jobTasks(job)) if (targets.includes(t.host ?? '')) moved.add(t.id);
      }
      assert.ok(moved.size > 0, 'the hosts run replicas');
      const t0 = Date.now();
      const { sampler, reader } = await watched(async () => {
        const r = await tb.cli([
          'host',
          'maintenance',
          ...targets,
          '--deadline',
          '25m',
          '--reason',
          'kernel upgrade',
        ]);
        assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
        await waitFor(
          'both hosts emptied and every shard whole elsewhere',
          async () => {
            for (const job of SHARD_JOBS) {
              const tasks = await client.jobTasks(job);
              if (tasks.some((t) => targets.includes(t.host ?? ''))) return undefined;
              const live = tasks.filter((t) => t.desired === 'run');
              if (live.length !== 3 || !live.every(isUp)) return undefined;
            }
            return true;
          },
          900_000,
          500,
        );
      });
      console.log(
        `kv maintenance of 2 hosts (${moved.size} replicas moved): ${((Date.now() - t0) / 1000).toFixed(1)} s, ` +
          `${sampler.samples} samples, ${reader.ok} reads`,
      );
      assertHeld(sampler, reader, 'maintenance');
      const log = controller.entries();
      assert.ok(
        log.some(
          (e) => e.msg === 'told: notice' && e['kind'] === 'maintenance' && e['reason'] === 'kernel upgrade',
        ),
        'the controller was told of the maintenance',
      );
      const acks = acked();
      for (const id of moved) assert.ok(acks.has(`move:${id}`), `the controller allowed move:${id}`);
      const origins = await checkData();
      const copied = [...origins.values()].filter((o) => o.startsWith('copy:'));
      assert.equal(
        copied.length,
        moved.size,
        `each moved replica copied its shard from a peer: ${JSON.stringify([...origins])}`,
      );
      const end = await tb.cli(['host', 'maintenance', 'end', ...targets]);
      assert.equal(end.code, 0, `${end.stdout}${end.stderr}`);
      await tb.waitHosts('ready', targets, 60_000);
    });

    test('a host killed outright: the controller is told, acknowledges, and only then are its replicas replaced', async () => {
      const before = new Map<string, JobView>();
      for (const job of SHARD_JOBS) before.set(job, await client.getJob(job));
      const all = [...before.values()].flatMap((v) => v.tasks.filter((t) => t.desired === 'run'));
      const victim = tb.hosts.find((h) => all.some((t) => t.host === h.id));
      assert.ok(victim, 'a host runs replicas');
      const lost = all.filter((t) => t.host === victim.id);
      const t0 = Date.now();
      await tb.killAgent(victim.index);
      tb.cutLink(victim.index);
      await waitFor(
        `the replicas of ${victim.id} replaced and serving`,
        async () => {
          for (const job of SHARD_JOBS) {
            const tasks = await client.jobTasks(job);
            const live = tasks.filter((t) => t.desired === 'run');
            if (live.length !== 3 || !live.every((t) => isUp(t) && t.host !== victim.id)) return undefined;
            if (tasks.some((t) => lost.some((l) => l.id === t.id))) return undefined;
          }
          return true;
        },
        600_000,
        500,
      );
      console.log(
        `kv host loss (${victim.id}, ${lost.length} replicas): ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      const log = controller.entries();
      for (const t of lost) {
        const told = log.find((e) => e.msg === 'told: unhealthy' && e.task === t.id);
        const fenced = log.find((e) => e.msg === 'fenced' && e.task === t.id);
        const ack = log.find((e) => e.msg === 'ack' && e.ids?.includes(`restart:${t.id}`));
        assert.ok(
          told && fenced && ack,
          `the controller was told of ${t.id}, fenced it and acknowledged its restart`,
        );
        assert.ok(told.at <= fenced.at && fenced.at <= ack.at, `told, fenced, then acknowledged ${t.id}`);
        const events = await client.events({ job: t.job, limit: 1000 });
        const gone = events.find((e) => e.kind === 'task.lost' && e.task === t.id);
        assert.ok(gone, `task.lost of ${t.id}: ${events.map((e) => `${e.kind} ${e.task ?? ''}`).join('; ')}`);
        assert.ok(gone.at >= ack.at, `${t.id} was given up (${gone.at}) only after the ack (${ack.at})`);
        const created = events.filter(
          (e) =>
            e.kind === 'task.created' && e.at >= t0 && !before.get(t.job)?.tasks.some((b) => b.id === e.task),
        );
        assert.ok(created.length > 0, `a replacement was created for ${t.job}`);
        for (const c of created) {
          assert.ok(
            c.at >= ack.at,
            `replacement ${c.task ?? ''} created (${c.at}) after the ack (${ack.at})`,
          );
          // Well before the bound on waiting (hostFailureWait 5m): the ack let it go, not the deadline.
          assert.ok(c.at < Number(told['since']) + 300_000);
        }
      }
      const origins = await checkData();
      const known = new Set(all.map((t) => t.id));
      const replacements = [...origins].filter(([id]) => !known.has(id));
      assert.equal(
        replacements.length,
        lost.length,
        `one replacement per lost replica: ${JSON.stringify([...origins])}`,
      );
      for (const [id, origin] of replacements)
        assert.match(origin, /^copy:/, `${id} copied its shard from a peer`);
    });

    test('the same rolling update without the controller takes two replicas of a shard down at once', async () => {
      const t0 = Date.now();
      const { sampler } = await watched(async () => {
        await deployAll('3', false);
        await allUp(client, 3);
      });
      console.log(
        `kv rolling update without the controller: ${((Date.now() - t0) / 1000).toFixed(1)} s, ` +
          `${sampler.violations.length} of ${sampler.samples} samples with a shard down`,
      );
      assert.ok(sampler.violations.length > 0, 'without the controller, some shard had two replicas down');
      assert.ok(
        !controller.entries().some((e) => e.at >= t0 && e.msg === 'ack'),
        'the controller was not asked any more',
      );
    });
  },
);
