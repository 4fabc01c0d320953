/**
 * Scaling by a counter, end to end on the testbed (2 hosts, agents collecting every second):
 * examples/hello with `scaling.metric` on its request counter (target 2 requests/s per replica,
 * between 1 and 3). Steady load makes the autoscaler ask for more replicas: the job runs 3, with
 * no new job version and a `job.scaled` event giving the reason; when the load stops, the job goes
 * back to 1 after the scale-down delay. Meanwhile a remediation rule on the same counter (its rate
 * above 1/s for 6 s, per job) calls its hook once, with the reason.
 * Needs root (network namespaces); DABBA_SKIP_NETNS=1 skips it.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { DabbaEvent, JobView } from '../../src/model/index.ts';
import { helloJob, netnsUnavailable, startTestbed, type Testbed } from '../../scripts/testbed/index.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;

describe('scaling by a counter', { skip, timeout: 300_000 }, () => {
  let tb: Testbed;
  let loading = false;
  let load: Promise<void> | undefined;
  let sent = 0;
  let hook: Server | undefined;
  const hooked: { rule?: string; target?: string; reason?: string }[] = [];

  before(async () => {
    const why = netnsUnavailable();
    if (why !== undefined) throw new Error(why);
    tb = await startTestbed({ hosts: 2, agentArgs: ['--metrics-interval', '1000ms'] });
  });
  after(async () => {
    loading = false;
    await load;
    hook?.close();
    await tb?.stop();
  });

  const running = (v: JobView): JobView['tasks'] =>
    v.tasks.filter((t) => t.desired !== 'stop' && t.state === 'running');

  async function events(): Promise<DabbaEvent[]> {
    const r = await tb.cli(['events', 'web', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as DabbaEvent[];
  }

  /** Requests to the job's running tasks, one after another with a pause, until stopped. */
  function startLoad(): void {
    loading = true;
    load = (async () => {
      while (loading) {
        const tasks = running(await tb.job('web').catch(() => ({ tasks: [] }) as unknown as JobView));
        for (const t of tasks) {
          if (!loading) break;
          const ok = await fetch(`http://${t.address ?? ''}:${t.ports['http'] ?? 0}/`)
            .then(async (r) => (await r.text(), r.ok))
            .catch(() => false);
          if (ok) sent++;
          await new Promise((r) => setTimeout(r, 40));
        }
        if (tasks.length === 0) await new Promise((r) => setTimeout(r, 200));
      }
    })();
  }

  test('load scales the job up to its maximum, no new version; quiet brings it back down', async () => {
    const job = JSON.parse(helloJob({ name: 'web', replicas: 1, metrics: true })) as Record<string, unknown>;
    job['scaling'] = {
      minReplicas: 1,
      maxReplicas: 3,
      metric: { name: 'hello_requests_total', target: 2, window: '8s', scaleDownDelay: '5s' },
    };
    const deployed = await tb.cli(['deploy', tb.writeJob('web', JSON.stringify(job))]);
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}\n${tb.logs(20)}`);
    assert.equal(running(await tb.job('web')).length, 1);

    // A hook the remediation rule calls (the server runs in this network namespace).
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        hooked.push(JSON.parse(body) as (typeof hooked)[number]);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook?.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`;
    const rules = tb.writeJob(
      'rules',
      `rules:\n  - name: busy\n    when: { counter: { name: hello_requests_total, above: 1, for: 6s } }\n    do: { hook: { url: "${url}" } }\n`,
    );
    const applied = await tb.cli(['remediation', 'apply', rules, '-m', 'hook when busy']);
    assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);

    startLoad();
    const up = await waitFor(
      '3 replicas under load',
      async () => {
        const v = await tb.job('web');
        return running(v).length === 3 ? v : undefined;
      },
      120_000,
    );
    assert.equal(up.version, 1, 'scaling makes no new job version');
    assert.ok(sent > 0);
    const scaledUp = (await events()).filter((e) => e.kind === 'job.scaled');
    assert.ok(scaledUp.length > 0, 'a job.scaled event');
    assert.match(
      scaledUp.at(-1)?.message ?? '',
      /to 3 replicas: hello_requests_total rate .* target 2 per replica/,
    );
    const call = await waitFor("the counter rule's hook", () => hooked[0], 90_000);
    assert.equal(call.rule, 'busy');
    assert.equal(call.target, 'job:web@v1');
    assert.match(call.reason ?? '', /hello_requests_total rate of job web above 1 for \d+s/);

    loading = false;
    await load;
    await waitFor(
      'back to 1 replica once quiet',
      async () => {
        const v = await tb.job('web');
        return v.tasks.filter((t) => t.desired !== 'stop').length === 1 ? v : undefined;
      },
      120_000,
    );
    const last = (await events()).filter((e) => e.kind === 'job.scaled').at(-1);
    assert.match(last?.message ?? '', /scaled from \d to 1 replicas/);
    assert.equal((await tb.job('web')).version, 1);
  });
});
