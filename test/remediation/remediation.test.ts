/**
 * Auto-remediation end to end on a real server: hosts whose agents report a full disk (the
 * heartbeat's conditions, as the agent's disk check sends them), rules applied with the real CLI,
 * and the server's remediation loop draining at most one host per window, holding the other back,
 * only logging for a dry-run rule, and `dabba remediation log` saying why.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { HostCondition, RemediationRecord } from '../../src/model/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { cli, waitFor } from '../helpers/dev-cluster.ts';

const RULES = `rules:
  - name: full-disks
    when: { host: { condition: DiskFull, for: 5m } }
    do: drain
    limit: { max: 1, per: 30m, rackPercent: 100 }
  - name: pressure
    when: { host: { condition: DiskPressure, for: 1m } }
    do: cordon
    dryRun: true
`;

describe('remediation', () => {
  let s: TestServer;
  const beats: NodeJS.Timeout[] = [];

  before(async () => {
    s = await startTestServer('remediation', { remediationIntervalMs: 200 });
    const long = Date.now() - 10 * 60_000;
    const conditions: Record<string, HostCondition[]> = {
      h1: [{ type: 'DiskFull', message: '/var/lib/dabba: 0 bytes free of 4 MiB', since: long }],
      h2: [{ type: 'DiskFull', message: '/var/lib/dabba: 12 KiB free of 4 MiB', since: long }],
      h3: [{ type: 'DiskPressure', message: '/var/lib/dabba: 3% free', since: long }],
      h4: [],
    };
    for (const [id, c] of Object.entries(conditions)) {
      const reg = await s.client.registerHost({
        id,
        labels: { rack: 'r1' },
        capacity: { cpu: 4, memoryBytes: 8 * 2 ** 30, pids: 10_000 },
        runtime: 'process',
      });
      await s.client.heartbeat(id, reg.lease, c);
      beats.push(setInterval(() => void s.client.heartbeat(id, reg.lease, c).catch(() => undefined), 2000));
    }
  });
  after(async () => {
    for (const b of beats) clearInterval(b);
    await s.close();
  });

  test('a bad rules file is refused with line:column; nothing is stored', async () => {
    const bad = join(s.dir, 'bad.yaml');
    await writeFile(bad, RULES.replace('do: drain', 'do: reboot'));
    const r = await cli(['remediation', 'apply', bad, '-m', 'first rules'], { addr: s.server.url });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /bad\.yaml:4:9: rules\[0\]\.do: must be cordon, drain, restart-runtime, rollback or \{ hook: \{ url \} \}/,
    );
    assert.equal((await s.client.remediation().rules()).rules, null);
  });

  test('one full-disk host drained, the other held back by the rate limit; the dry-run rule only logs', async () => {
    const file = join(s.dir, 'rules.yaml');
    await writeFile(file, RULES);
    const r = await cli(['remediation', 'apply', file, '-m', 'drain hosts whose disk is full'], {
      addr: s.server.url,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /remediation rules version 1: 2 rules \(1 dry-run\)/);
    const log = await waitFor('three records', async () => {
      const l = await s.client.remediation().log();
      return l.length >= 3 ? l : undefined;
    });
    const by = (outcome: RemediationRecord['outcome']): RemediationRecord[] =>
      log.filter((x) => x.outcome === outcome);
    const [done] = by('done');
    assert.ok(done, JSON.stringify(log));
    assert.equal(done.rule, 'full-disks');
    assert.match(done.reason, /^host h[12] DiskFull: \/var\/lib\/dabba: .* free of 4 MiB \(for \d+s\)$/);
    const held = by('rate-limited');
    assert.equal(held.length, 1);
    assert.notEqual(held[0]?.target, done.target);
    assert.match(held[0]?.detail ?? '', /1 action of this rule in the last 30 min \(max 1\)/);
    assert.deepEqual(
      by('dry-run').map((x) => [x.rule, x.target, x.action]),
      [['pressure', 'host:h3', 'cordon']],
    );

    const hosts = new Map((await s.client.hosts()).map((h) => [h.id, h.state]));
    const drained = done.target.slice('host:'.length);
    assert.equal(hosts.get(drained), 'draining');
    assert.equal(hosts.get(drained === 'h1' ? 'h2' : 'h1'), 'ready', 'held back by the limit');
    assert.equal(hosts.get('h3'), 'ready', 'a dry run changes nothing');
    assert.equal(hosts.get('h4'), 'ready');
    const events = await s.client.events({ limit: 50 });
    assert.ok(events.some((e) => e.kind === 'HostDraining' && /remediation rule full-disks/.test(e.message)));

    // More rounds add nothing: each held-back and dry-run episode is logged once.
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal((await s.client.remediation().log()).length, log.length);

    const text = await cli(['remediation', 'log'], { addr: s.server.url });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /full-disks\s+host:h[12]\s+drain\s+done\s+host h[12] DiskFull/);
    assert.match(text.stdout, /rate-limited .*max 1/);
    assert.match(text.stdout, /pressure\s+host:h3\s+cordon\s+dry-run/);
    const json = await cli(['remediation', 'log', '--json'], { addr: s.server.url });
    assert.equal((JSON.parse(json.stdout) as unknown[]).length, log.length);
  });
});
