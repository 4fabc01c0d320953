import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { sleep } from '../../lib/index.ts';
import type { ProbeSpec } from '../../model/index.ts';
import { ProbeLoop, runProbe, type ProbeResult, type ProbeState, type Timers } from './index.ts';
import { getEventListeners } from 'node:events';

/** Timers and clock that only move when told; advancing runs due callbacks and lets promises settle. */
class FakeTime implements Timers {
  #now = 0;
  #next = 1;
  #queue = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#queue.set(id, { at: this.#now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#queue.delete(handle as number);
  }
  get pending(): number {
    return this.#queue.size;
  }
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      await settle();
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#queue)
        if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry;
      if (!due) break;
      this.#queue.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

function spec(o: Partial<ProbeSpec> = {}): ProbeSpec {
  return {
    action: { tcp: { port: 1 } },
    intervalMs: 1000,
    timeoutMs: 500,
    failures: 3,
    successes: 2,
    initialDelayMs: 0,
    ...o,
  };
}

/** A loop whose probe results are scripted; records runs (by fake time) and state changes. */
function scripted(s: ProbeSpec, kind: 'liveness' | 'readiness', results: (boolean | 'throw')[], runMs = 0) {
  const time = new FakeTime();
  const runs: number[] = [];
  const changes: ProbeState[] = [];
  const signals: AbortSignal[] = [];
  let i = 0;
  const loop = new ProbeLoop({
    spec: s,
    kind,
    clock: time,
    timers: time,
    run: async (signal) => {
      runs.push(time.now());
      signals.push(signal);
      const r = results[Math.min(i, results.length - 1)];
      const n = ++i;
      if (runMs > 0) await new Promise<void>((resolve) => time.setTimeout(resolve, runMs));
      if (r === 'throw') throw new Error(`boom ${n}`);
      return { ok: r === true, message: `run ${n}` };
    },
    onChange: (state) => changes.push(state),
  });
  return { time, runs, changes, signals, loop };
}

describe('ProbeLoop', () => {
  test('liveness starts passing and fails after `failures` consecutive failures', async () => {
    const { time, runs, changes, loop } = scripted(spec(), 'liveness', [
      true,
      false,
      false,
      true,
      false,
      false,
      false,
    ]);
    assert.deepEqual(loop.state, { passing: true, message: 'not probed yet' });
    loop.start();
    await time.advance(0);
    assert.deepEqual(runs, [0]);
    await time.advance(5000); // runs 2..6: a success in between resets the count
    assert.deepEqual(changes, []);
    assert.deepEqual(loop.state, { passing: true, message: 'run 6' });
    await time.advance(1000);
    assert.deepEqual(changes, [{ passing: false, message: 'run 7' }]);
    assert.deepEqual(runs, [0, 1000, 2000, 3000, 4000, 5000, 6000]);
    loop.stop();
  });

  test('a failing probe passes again after `successes` consecutive successes', async () => {
    const { time, changes, loop } = scripted(spec({ failures: 1, successes: 2 }), 'liveness', [
      false,
      true,
      false,
      true,
      true,
    ]);
    loop.start();
    await time.advance(0);
    assert.deepEqual(changes, [{ passing: false, message: 'run 1' }]);
    await time.advance(3000);
    assert.equal(changes.length, 1, 'success, failure, success: not yet');
    await time.advance(1000);
    assert.deepEqual(changes.at(-1), { passing: true, message: 'run 5' });
    loop.stop();
  });

  test('readiness starts not passing and passes after `successes` successes', async () => {
    const { time, changes, loop } = scripted(spec({ successes: 1 }), 'readiness', [true]);
    assert.equal(loop.state.passing, false);
    loop.start();
    await time.advance(0);
    assert.deepEqual(changes, [{ passing: true, message: 'run 1' }]);
    loop.stop();
  });

  test('start period: failures before the first success do not count until it ends', async () => {
    // Booting for 3 s (refused), then up; a start period of 5 s: never killed while it boots.
    const boot = scripted(spec({ failures: 2, startPeriodMs: 5000 }), 'liveness', [
      false,
      false,
      false,
      true,
      false,
      false,
    ]);
    boot.loop.start();
    await boot.time.advance(2500);
    assert.deepEqual(boot.changes, [], 'failures while starting are not counted');
    assert.match(boot.loop.state.message, /not counted: starting/);
    await boot.time.advance(2500); // run 4 passes; runs 5 and 6 fail: counted, after a success
    assert.deepEqual(boot.changes, [{ passing: false, message: 'run 6' }]);
    boot.loop.stop();
    // Never up: the failures count from the end of the start period on.
    const never = scripted(spec({ failures: 2, startPeriodMs: 5000 }), 'liveness', [false]);
    never.loop.start();
    await never.time.advance(5000);
    assert.deepEqual(never.changes, [], 'runs at 0..4 s were in the start period');
    await never.time.advance(1000);
    assert.deepEqual(never.changes, [{ passing: false, message: 'run 7' }]);
    never.loop.stop();
  });

  test('the first run waits for the initial delay', async () => {
    const { time, runs, loop } = scripted(spec({ initialDelayMs: 2500 }), 'liveness', [true]);
    loop.start();
    await time.advance(2499);
    assert.deepEqual(runs, []);
    await time.advance(1);
    await time.advance(2000);
    assert.deepEqual(runs, [2500, 3500, 4500]);
    loop.stop();
  });

  test('runs never overlap: a probe slower than the interval delays the next', async () => {
    const { time, runs, loop } = scripted(spec({ intervalMs: 1000 }), 'liveness', [true], 2500);
    loop.start();
    await time.advance(6000);
    assert.deepEqual(runs, [0, 2500, 5000]);
    const fast = scripted(spec({ intervalMs: 1000 }), 'liveness', [true], 300);
    fast.loop.start();
    await fast.time.advance(3000);
    assert.deepEqual(fast.runs, [0, 1000, 2000, 3000], 'the interval counts from the start of a run');
    loop.stop();
    fast.loop.stop();
  });

  test('a run that throws counts as a failure with its message', async () => {
    const { time, changes, loop } = scripted(spec({ failures: 1 }), 'liveness', ['throw']);
    loop.start();
    await time.advance(0);
    assert.deepEqual(changes, [{ passing: false, message: 'boom 1' }]);
    loop.stop();
  });

  test('stop() leaves no listener on the start signal (a runner signal outlives many loops)', () => {
    const ac = new AbortController();
    for (let i = 0; i < 5; i++) {
      const { loop } = scripted(spec({}), 'liveness', [true]);
      loop.start(ac.signal);
      loop.stop();
    }
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });

  test('stop (or the start signal) ends the loop and aborts the run in flight', async () => {
    const { time, runs, changes, signals, loop } = scripted(spec({ failures: 1 }), 'liveness', [false], 500);
    const ac = new AbortController();
    loop.start(ac.signal);
    await time.advance(100);
    assert.equal(runs.length, 1);
    ac.abort();
    assert.equal(signals[0]?.aborted, true);
    await time.advance(10_000);
    assert.deepEqual(runs, [0]);
    assert.deepEqual(changes, [], 'the result of an aborted run is dropped');
    assert.equal(time.pending, 0);
    loop.stop(); // idempotent
    loop.start(); // a stopped loop stays stopped
    await time.advance(5000);
    assert.deepEqual(runs, [0]);
  });

  test('with real timers, a readiness probe follows a real HTTP server going up and down', async (t) => {
    let healthy = true;
    const server = createServer((_req, res) => res.writeHead(healthy ? 200 : 500).end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;
    const s = spec({
      action: { http: { port: 'web', path: '/', scheme: 'http' } },
      intervalMs: 20,
      timeoutMs: 500,
      failures: 2,
      successes: 1,
    });
    const changes: ProbeState[] = [];
    const target = { address: '127.0.0.1', ports: { web: port }, declared: [] };
    const loop = new ProbeLoop({
      spec: s,
      kind: 'readiness',
      run: (signal): Promise<ProbeResult> =>
        runProbe(s, target, () => Promise.reject(new Error('no exec')), signal),
      onChange: (state) => changes.push(state),
    });
    const ac = new AbortController();
    t.after(() => ac.abort());
    loop.start(ac.signal);
    const until = async (n: number): Promise<void> => {
      const deadline = Date.now() + 3000;
      while (changes.length < n && Date.now() < deadline) await sleep(10);
      assert.equal(changes.length, n);
    };
    await until(1);
    assert.equal(changes[0]?.passing, true);
    healthy = false;
    await until(2);
    assert.equal(changes[1]?.passing, false);
    assert.match(changes[1]?.message ?? '', /HTTP 500/);
    healthy = true;
    await until(3);
    assert.equal(changes[2]?.passing, true);
  });
});
