import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { silentLogger } from '../../lib/index.ts';
import type { PortSpec, ProbeAction, ProbeSpec } from '../../model/index.ts';
import type { ExecResult } from '../../runtime/index.ts';
import { ProcessRuntime } from '../../runtime/process/index.ts';
import { resolveProbePort, runProbe, type ProbeExec, type ProbeTarget } from './index.ts';

function probe(action: ProbeAction, timeoutMs = 1000): ProbeSpec {
  return { action, intervalMs: 1000, timeoutMs, failures: 1, successes: 1, initialDelayMs: 0 };
}

const noExec: ProbeExec = () => Promise.reject(new Error('exec not expected'));

async function listen(t: TestContext, server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A free port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function target(ports: Record<string, number>, declared: PortSpec[] = []): ProbeTarget {
  return { address: '127.0.0.1', ports, declared };
}

describe('resolveProbePort', () => {
  const t = target({ web: 31000 }, [{ name: 'web', port: 8080, protocol: 'tcp' }]);
  test('a declared name maps to its host port', () => {
    assert.deepEqual(resolveProbePort('web', t), { ok: true, port: 31000 });
  });
  test('a declared number maps through its declaration; an undeclared one is used as is', () => {
    assert.deepEqual(resolveProbePort(8080, t), { ok: true, port: 31000 });
    assert.deepEqual(resolveProbePort('8080', t), { ok: true, port: 31000 });
    assert.deepEqual(resolveProbePort(9000, t), { ok: true, port: 9000 });
  });
  test('an undeclared name or an invalid number fails', () => {
    const r = resolveProbePort('admin', t);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.message, /"admin" is not declared/);
    assert.equal(resolveProbePort(70000, t).ok, false);
  });
});

describe('runProbe tcp', () => {
  test('passes when something listens on the named port', async (t) => {
    const port = await listen(
      t,
      createServer((s) => s.destroy()),
    );
    const r = await runProbe(probe({ tcp: { port: 'svc' } }), target({ svc: port }), noExec);
    assert.equal(r.ok, true, r.message);
    assert.match(r.message, /connected/);
  });

  test('fails when nothing listens', async () => {
    const port = await closedPort();
    const r = await runProbe(probe({ tcp: { port } }), target({}), noExec);
    assert.equal(r.ok, false);
    assert.match(r.message, /ECONNREFUSED/);
  });

  test('fails for a port name the task does not declare', async () => {
    const r = await runProbe(probe({ tcp: { port: 'nope' } }), target({}), noExec);
    assert.deepEqual(r, { ok: false, message: 'port "nope" is not declared by the task' });
  });

  test('an aborted signal fails the probe', async (t) => {
    const port = await listen(
      t,
      createServer((s) => s.destroy()),
    );
    const r = await runProbe(probe({ tcp: { port } }), target({}), noExec, AbortSignal.abort());
    assert.equal(r.ok, false);
    assert.match(r.message, /aborted/);
  });
});

describe('runProbe http', () => {
  async function server(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void) {
    const paths: string[] = [];
    const port = await listen(
      t,
      createHttpServer((req, res) => {
        paths.push(req.url ?? '');
        handler(req, res);
      }),
    );
    return { port, paths };
  }
  const http = (port: string | number, path = '/healthz'): ProbeAction => ({
    http: { port, path, scheme: 'http' },
  });

  test('200 and 3xx pass (redirects are not followed); the path is requested', async (t) => {
    const s = await server(t, (req, res) => {
      if (req.url === '/moved') res.writeHead(302, { location: '/elsewhere' }).end();
      else res.end('fine');
    });
    const declared: PortSpec[] = [{ name: 'web', port: 8080, protocol: 'tcp' }];
    const tg = target({ web: s.port }, declared);
    const ok = await runProbe(probe(http('web')), tg, noExec);
    assert.equal(ok.ok, true, ok.message);
    assert.match(ok.message, /HTTP 200/);
    const moved = await runProbe(probe(http(8080, '/moved')), tg, noExec);
    assert.equal(moved.ok, true, moved.message);
    assert.match(moved.message, /HTTP 302/);
    assert.deepEqual(s.paths, ['/healthz', '/moved']);
  });

  test('4xx and 5xx fail, quoting the start of the body', async (t) => {
    const s = await server(t, (req, res) => {
      res.writeHead(req.url === '/missing' ? 404 : 503).end(`database down\n${'x'.repeat(5000)}`);
    });
    const down = await runProbe(probe(http(s.port)), target({}), noExec);
    assert.equal(down.ok, false);
    assert.match(down.message, /HTTP 503: database down x+$/);
    assert.ok(down.message.length < 400);
    const missing = await runProbe(probe(http(s.port, '/missing')), target({}), noExec);
    assert.equal(missing.ok, false);
    assert.match(missing.message, /HTTP 404/);
  });

  test('a server that does not answer in time fails after the timeout', async (t) => {
    const s = await server(t, () => {
      // never answers
    });
    const t0 = Date.now();
    const r = await runProbe(probe(http(s.port), 200), target({}), noExec);
    const took = Date.now() - t0;
    assert.equal(r.ok, false);
    assert.match(r.message, /timed out/);
    assert.ok(took >= 150 && took < 2000, `took ${took}ms`);
  });

  test('a refused connection fails', async () => {
    const r = await runProbe(probe(http(await closedPort())), target({}), noExec);
    assert.equal(r.ok, false);
    assert.match(r.message, /ECONNREFUSED/);
  });
});

describe('runProbe exec', () => {
  async function task(t: TestContext): Promise<ProbeExec> {
    const stateDir = await mkdtemp(join(tmpdir(), 'dabba-probe-exec-'));
    const rt = new ProcessRuntime({ stateDir, logger: silentLogger });
    const taskId = 'probe-target';
    t.after(async () => {
      await rt.stop(taskId, 0);
      await rt.remove(taskId);
      await rt.close();
      await rm(stateDir, { recursive: true, force: true });
    });
    await rt.start({
      taskId,
      job: 'probe',
      version: 1,
      env: {},
      spec: {
        command: ['sh', '-c', 'while true; do sleep 0.1; done'],
        env: { HEALTH: 'green' },
        resources: { cpu: 0.1, memoryBytes: 64 * 1024 * 1024, pids: 10 },
        ports: [],
        health: {},
        restart: { policy: 'never', initialBackoffMs: 100, maxBackoffMs: 100 },
        stopGracePeriodMs: 100,
      },
    });
    return (cmd, timeoutMs) => rt.exec(taskId, cmd, timeoutMs);
  }

  test('exit 0 passes, non-zero fails with the output, a slow command times out', async (t) => {
    const exec = await task(t);
    const ok = await runProbe(
      probe({ exec: { command: ['sh', '-c', 'test "$HEALTH" = green'] } }),
      target({}),
      exec,
    );
    assert.equal(ok.ok, true, ok.message);
    const bad = await runProbe(
      probe({ exec: { command: ['sh', '-c', 'echo "not healthy"; exit 2'] } }),
      target({}),
      exec,
    );
    assert.deepEqual(bad, {
      ok: false,
      message: 'exec sh -c echo "not healthy"; exit 2: exit code 2: not healthy',
    });
    const t0 = Date.now();
    const slow = await runProbe(probe({ exec: { command: ['sleep', '5'] } }, 200), target({}), exec);
    assert.equal(slow.ok, false);
    assert.match(slow.message, /timed out/);
    assert.ok(Date.now() - t0 < 2000);
  });

  test('an exec that throws or never returns is a failure, not an exception', async () => {
    const boom: ProbeExec = () => Promise.reject(new Error('task is not running'));
    const r = await runProbe(probe({ exec: { command: ['true'] } }), target({}), boom);
    assert.deepEqual(r, { ok: false, message: 'exec true: task is not running' });
    const hang: ProbeExec = () => new Promise<ExecResult>(() => undefined);
    const h = await runProbe(probe({ exec: { command: ['true'] } }, 100), target({}), hang);
    assert.deepEqual(h, { ok: false, message: 'exec true: timed out' });
  });
});
