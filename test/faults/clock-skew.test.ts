/**
 * Issue 14's agent self-check of its clock: an agent whose clock is 5 s ahead of the server's (an
 * offset injected into the clock the check reads, DABBA_TEST_CLOCK_OFFSET_MS; the system clock is
 * not touched) reports the host condition ClockSkew, shown with the difference in `dabba hosts`,
 * and placement keeps new tasks off the host, saying why.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DevCluster, waitFor } from '../helpers/dev-cluster.ts';

let c: DevCluster | undefined;

before(async () => {
  // The dev process (server and agent) inherits it; only the agent's clock check reads it.
  process.env['DABBA_TEST_CLOCK_OFFSET_MS'] = '5000';
  c = await DevCluster.start();
});
after(async () => {
  await c?.kill9();
  for (const pid of (await c?.processes()) ?? []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await c?.destroy();
});

interface HostView {
  conditions?: { type: string; message: string }[];
}

test(
  'a host whose clock is 5 s ahead: ClockSkew shown with the difference, no new tasks placed there',
  {
    timeout: 120_000,
  },
  async () => {
    const cl = c!;
    const cond = await waitFor('ClockSkew reported', async () => {
      const hosts = (await cl.api('GET', '/v1/hosts')).body as HostView[];
      return hosts[0]?.conditions?.find((x) => x.type === 'ClockSkew');
    });
    assert.match(cond.message, /the host's clock is [45]\.\d s ahead of the server's \(bound 2 s\)/);
    const shown = await cl.cli(['hosts']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /CONDITIONS[\s\S]*ClockSkew/);

    const job = { name: 'web', replicas: 1, task: { command: ['sleep', '1000'] } };
    assert.equal((await cl.api('PUT', '/v1/jobs/web', job)).status, 200);
    const t = await waitFor('the task is not placed, with the reason', async () => {
      const tasks = (await cl.api('GET', '/v1/jobs/web/tasks')).body as {
        host?: string | null;
        unplaced?: string;
      }[];
      return tasks[0]?.unplaced !== undefined ? tasks[0] : undefined;
    });
    assert.match(t.unplaced ?? '', /ClockSkew/);
    assert.ok(!t.host, 'not placed on the skewed host');
  },
);
