/**
 * The runtime contract for what a task sees and shows: its environment, its logs, its usage.
 * Part of the runtime contract suite (../contract.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogLine } from '../runtime.ts';
import { LOOP, launch, readLogs, texts, waitForLine, type RuntimeFixture } from './fixture.ts';

/** The environment a task runs with. */
export function envTests(fixture: () => RuntimeFixture): void {
  test('env: spec.env merged with launch.env; declared ports as DABBA_PORT_<NAME> and PORT', async (t) => {
    const f = fixture();
    const rt = f.runtime;
    const h = await launch(
      t,
      rt,
      f,
      'echo "A=$A"; echo "B=$B"; echo "C=$C"; echo "HTTP=$DABBA_PORT_HTTP"; ' +
        'echo "ADMIN=$DABBA_PORT_ADMIN_API"; echo "PORT=$PORT"',
      {
        env: { A: 'from-spec', B: 'from-spec' },
        launchEnv: { B: 'from-launch', C: 'from-launch' },
        ports: [
          { name: 'http', port: 8080, protocol: 'tcp' },
          { name: 'admin-api', port: 9090, protocol: 'tcp' },
        ],
      },
    );
    assert.equal((await rt.wait(h.taskId)).exitCode, 0);
    const out = texts(await readLogs(rt, h.taskId), 'stdout');
    const http = h.ports['http'];
    const admin = h.ports['admin-api'];
    assert.ok(http !== undefined && admin !== undefined);
    assert.notEqual(http, admin);
    assert.deepEqual(out, [
      'A=from-spec',
      'B=from-launch',
      'C=from-launch',
      `HTTP=${http}`,
      `ADMIN=${admin}`,
      `PORT=${http}`,
    ]);
  });
}

/** Logs: streams apart, tail, follow; and usage stats. */
export function logTests(fixture: () => RuntimeFixture): void {
  test('logs keep stdout and stderr apart, and tail returns the last lines', async (t) => {
    const f = fixture();
    const rt = f.runtime;
    const a = await launch(t, rt, f, 'echo out1; echo err1 >&2; echo out2; echo err2 >&2');
    const b = await launch(t, rt, f, 'for i in 1 2 3 4 5; do echo line$i; done');
    await rt.wait(a.taskId);
    await rt.wait(b.taskId);
    const lines = await readLogs(rt, a.taskId);
    assert.deepEqual(texts(lines, 'stdout'), ['out1', 'out2']);
    assert.deepEqual(texts(lines, 'stderr'), ['err1', 'err2']);
    assert.equal(lines.length, 4);
    const tail = await readLogs(rt, b.taskId, { tail: 2 });
    assert.deepEqual(
      tail.map(({ stream, text }) => ({ stream, text })),
      [
        { stream: 'stdout', text: 'line4' },
        { stream: 'stdout', text: 'line5' },
      ],
    );
    assert.equal((await readLogs(rt, b.taskId)).length, 5);
  });

  test('logs follow lines as the task writes them, until the signal aborts', async (t) => {
    const f = fixture();
    const rt = f.runtime;
    const h = await launch(
      t,
      rt,
      f,
      `echo first; sleep 0.3; echo second >&2; sleep 0.2; echo third; ${LOOP}`,
    );
    const ac = new AbortController();
    const guard = setTimeout(() => ac.abort(), 8000);
    t.after(() => clearTimeout(guard));
    const seen: LogLine[] = [];
    for await (const line of rt.logs(h.taskId, { follow: true, signal: ac.signal })) {
      seen.push({ stream: line.stream, text: line.text });
      if (line.text === 'third') ac.abort();
    }
    assert.deepEqual(seen, [
      { stream: 'stdout', text: 'first' },
      { stream: 'stderr', text: 'second' },
      { stream: 'stdout', text: 'third' },
    ]);
  });

  test('stats reports the usage of a running task', async (t) => {
    const f = fixture();
    const rt = f.runtime;
    const h = await launch(t, rt, f, `echo ready; ${LOOP}`);
    await waitForLine(rt, h.taskId, 'ready');
    const usage = await rt.stats(h.taskId);
    assert.ok(usage, 'stats of a running task');
    assert.ok(usage.memoryBytes > 0, `memory ${usage.memoryBytes}`);
    assert.ok(usage.pids >= 1, `pids ${usage.pids}`);
    assert.ok(Number.isFinite(usage.cpuSeconds) && usage.cpuSeconds >= 0);
  });
}
