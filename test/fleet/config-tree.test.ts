/**
 * The config distribution tree on a 5-host testbed (fan-out 2: a root, two hosts below it, two below
 * the first of those): while a large config (24 MB) flows down the tree, the interior host below the
 * root is killed (SIGKILL of its agent) once its children hold part of the content. Its children
 * complete from another upstream, resuming where they stopped (Range), verified by digest; the
 * distributor drops the dead host from the tree; `config status` shows every live host on the
 * latest version. The interior host's egress is limited with `tc` so that the kill lands during
 * the transfer (waited for as a condition, never a time).
 * Needs root (network namespaces); DABBA_SKIP_NETNS=1 skips it.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ConfigStatusView, JobView } from '../../src/model/index.ts';
import { netnsUnavailable, startTestbed, type Testbed } from '../../scripts/testbed/index.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;
const PATH = 'big/blob.bin';
const MOUNT = '/etc/big/blob.bin';
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('config tree: an interior host dies during a large transfer', { skip, timeout: 600_000 }, () => {
  let tb: Testbed;
  let out: string;

  before(async () => {
    const why = netnsUnavailable();
    if (why !== undefined) throw new Error(why);
    out = await mkdtemp(join(tmpdir(), 'dabba-tb-cfgtree-'));
    tb = await startTestbed({ hosts: 5, racks: 5, serverArgs: ['--config-fanout', '2'] });
  });
  after(async () => {
    try {
      await tb?.stop();
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  const status = async (): Promise<ConfigStatusView> => {
    const r = await tb.cli(['config', 'status', PATH, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as ConfigStatusView;
  };

  /** Bytes of partial contents (HEX.part) in a host's content cache. */
  const partial = async (dataDir: string): Promise<number> => {
    const dir = join(dataDir, 'configdist');
    let n = 0;
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      if (f.endsWith('.part')) n += (await stat(join(dir, f)).catch(() => ({ size: 0 }))).size;
    }
    return n;
  };

  test("the dead host's children complete from another upstream; every live host on the latest", async () => {
    const v1 = join(out, 'v1.bin');
    await writeFile(v1, 'first\n');
    assert.equal((await tb.cli(['config', 'put', PATH, v1, '--message', 'small'])).code, 0);
    const job = tb.writeJob(
      'big',
      [
        'name: big',
        'replicas: 5',
        'task:',
        '  command: ["sh", "-c", "while :; do sleep 1 & wait $!; done"]',
        '  resources: { cpu: 0.05, memory: 16Mi }',
        '  stopGracePeriod: 1s',
        '  configs:',
        `    - { path: ${PATH}, mount: ${MOUNT} }`,
        'placement:',
        '  spread: [{ attribute: rack, min: 5 }]',
        '',
      ].join('\n'),
    );
    const d = await tb.cli(['deploy', job]);
    assert.equal(d.code, 0, d.stdout + d.stderr + tb.logs(20));
    const tasks = await waitFor(
      '5 tasks running on 5 hosts',
      async () => {
        const v: JobView = await tb.job('big');
        const running = v.tasks.filter((t) => t.state === 'running');
        return running.length === 5 && new Set(running.map((t) => t.host)).size === 5 ? running : undefined;
      },
      180_000,
    );
    const tree = await waitFor(
      'the tree holds the 5 hosts',
      async () => {
        const t = (await status()).tree;
        return t && t.members.length === 5 ? t : undefined;
      },
      60_000,
    );
    assert.equal(tree.fanout, 2);
    assert.equal(tree.depth, 2);
    const interior = tree.members.find((m) => m.depth === 1 && m.children > 0);
    assert.ok(interior, `an interior host: ${JSON.stringify(tree.members)}`);
    const children = tree.members.filter((m) => m.parent === interior.host).map((m) => m.host);
    assert.ok(children.length > 0);
    const hostOf = (id: string): NonNullable<Testbed['hosts'][number]> => {
      const h = tb.hosts.find((x) => x.id === id);
      assert.ok(h, id);
      return h;
    };
    const dead = hostOf(interior.host);

    // The interior host sends slowly, so that its children are mid-transfer when it dies.
    const tc = await tb.exec(dead.index, [
      'tc',
      'qdisc',
      'add',
      'dev',
      'eth0',
      'root',
      'tbf',
      'rate',
      '24mbit',
      'burst',
      '64kb',
      'latency',
      '2s',
    ]);
    assert.equal(tc.code, 0, tc.stderr);
    const big = randomBytes(24 * 1024 * 1024);
    const v2 = join(out, 'v2.bin');
    await writeFile(v2, big);
    const put = await tb.cli(['config', 'put', PATH, v2, '--message', 'large'], { timeoutMs: 120_000 });
    assert.equal(put.code, 0, put.stderr);

    await waitFor(
      "the interior host's children hold part of the new content",
      async () => {
        for (const c of children) if ((await partial(hostOf(c).dataDir)) > 0) return true;
        return undefined;
      },
      120_000,
      20,
    );
    await tb.killAgent(dead.index);

    const live = tasks.filter((t) => t.host !== dead.id);
    const fileOf = (t: { id: string; host?: string | null }): string =>
      join(hostOf(t.host ?? '').dataDir, 'configs', t.id, MOUNT.slice(1));
    await waitFor(
      'every live task holds the new content',
      async () => {
        for (const t of live) {
          if ((await readFile(`${fileOf(t)}.version`, 'utf8').catch(() => '')) !== '2\n') return undefined;
        }
        return true;
      },
      300_000,
    );
    for (const t of live) assert.equal(sha(await readFile(fileOf(t))), sha(big), `${t.id} has v2 whole`);

    const after = await waitFor(
      'the tree repaired without the dead host, the live hosts on version 2 with their counters',
      async () => {
        const s = await status();
        const t = s.tree;
        if (!t || t.members.length !== 4 || t.members.some((m) => m.host === dead.id)) return undefined;
        const onLatest = s.hosts.filter((h) => h.version === 2).map((h) => h.host);
        if (onLatest.length !== 4 || onLatest.includes(dead.id)) return undefined;
        // Counters come with heartbeats: wait for one after the transfer.
        const resumed = t.members.filter((m) => children.includes(m.host) && (m.data?.resumes ?? 0) > 0);
        return resumed.length > 0 ? s : undefined;
      },
      60_000,
    );
    assert.equal(after.latest.version, 2);
    assert.equal(after.tree?.depth, 2);
    assert.ok((after.tree?.stats.deaths ?? 0) + (after.tree?.stats.leaves ?? 0) >= 1);
  });
});
