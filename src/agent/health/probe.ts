/**
 * One run of a health probe against a task: exec (exit 0 passes), tcp (a connection passes) or
 * http (GET answering 200-399 passes), each bounded by the probe's timeout. Never throws: the
 * outcome is a value with a message for the task's status.
 */
import { request, type ClientRequest } from 'node:http';
import { connect } from 'node:net';
import { messageOf } from '../../errors/index.ts';
import type { PortSpec, ProbeSpec } from '../../model/index.ts';
import type { ExecResult } from '../../runtime/index.ts';

export interface ProbeResult {
  ok: boolean;
  message: string;
}

export interface ProbeTarget {
  /** Address the task is reachable at from the host. */
  address: string;
  /** Declared port name -> port reachable at `address`. */
  ports: Record<string, number>;
  /** The task's declared ports (to map a declared port number to where it is reachable). */
  declared: PortSpec[];
}

export type ProbeExec = (command: string[], timeoutMs: number) => Promise<ExecResult>;

/** Bytes of a failing HTTP answer's body quoted in the message. */
const BODY_SNIPPET = 200;

/**
 * Where a probe's port is reachable: a declared name through `ports`; a number that is declared
 * through its declaration; any other number as is.
 */
export function resolveProbePort(
  port: string | number,
  target: ProbeTarget,
): { ok: true; port: number } | { ok: false; message: string } {
  if (typeof port === 'string') {
    const byName = target.ports[port];
    if (byName !== undefined) return { ok: true, port: byName };
    if (!/^\d+$/.test(port)) return { ok: false, message: `port "${port}" is not declared by the task` };
    port = Number(port);
  }
  const decl = target.declared.find((p) => p.port === port);
  const mapped = decl === undefined ? undefined : target.ports[decl.name];
  const resolved = mapped ?? port;
  if (!Number.isInteger(resolved) || resolved < 1 || resolved > 65535) {
    return { ok: false, message: `port ${resolved} is not a valid port` };
  }
  return { ok: true, port: resolved };
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Resolves with `onAbort()` once the signal aborts, unless `work` (which never rejects) is done first. */
function bounded<T>(work: () => Promise<T>, signal: AbortSignal, onAbort: () => T): Promise<T> {
  if (signal.aborted) return Promise.resolve(onAbort());
  return new Promise<T>((resolve) => {
    const abort = (): void => resolve(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    void work().then((v) => {
      signal.removeEventListener('abort', abort);
      resolve(v);
    });
  });
}

function tcpProbe(host: string, port: number, signal: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const where = hostPort(host, port);
    const socket = connect({ host, port });
    const done = (r: ProbeResult): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(r);
    };
    const onAbort = (): void => done({ ok: false, message: `tcp ${where}: ${abortMessage(signal)}` });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done({ ok: true, message: `tcp ${where}: connected` }));
    socket.once('error', (e) => done({ ok: false, message: `tcp ${where}: ${e.message}` }));
  });
}

function httpProbe(host: string, port: number, path: string, signal: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const url = `http://${hostPort(host, port)}${path.startsWith('/') ? path : `/${path}`}`;
    let settled = false;
    const done = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(r);
    };
    const onAbort = (): void => done({ ok: false, message: `GET ${url}: ${abortMessage(signal)}` });
    let req: ClientRequest;
    try {
      req = request(url, {
        method: 'GET',
        agent: false,
        headers: { 'user-agent': 'dabba-health-probe', connection: 'close' },
      });
    } catch (e) {
      settled = true;
      return resolve({ ok: false, message: `GET ${url}: ${messageOf(e)}` });
    }
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    req.once('error', (e) => done({ ok: false, message: `GET ${url}: ${e.message}` }));
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 400;
      if (ok) return done({ ok, message: `GET ${url}: HTTP ${status}` });
      // Quote the start of the body: it often says why.
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length >= BODY_SNIPPET) finish();
      });
      res.once('end', finish);
      res.once('error', finish);
      function finish(): void {
        const snippet = body.slice(0, BODY_SNIPPET).trim().replace(/\s+/g, ' ');
        done({ ok, message: `GET ${url}: HTTP ${status}${snippet === '' ? '' : `: ${snippet}`}` });
      }
    });
    req.end();
  });
}

async function execProbe(command: string[], timeoutMs: number, exec: ProbeExec): Promise<ProbeResult> {
  const name = command.join(' ');
  try {
    const r = await exec(command, timeoutMs);
    if (r.timedOut) return { ok: false, message: `exec ${name}: timed out after ${timeoutMs}ms` };
    const output = r.output.trim().slice(-BODY_SNIPPET);
    const tail = output === '' ? '' : `: ${output}`;
    return { ok: r.exitCode === 0, message: `exec ${name}: exit code ${r.exitCode}${tail}` };
  } catch (e) {
    return { ok: false, message: `exec ${name}: ${messageOf(e)}` };
  }
}

function abortMessage(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof DOMException && reason.name === 'TimeoutError' ? 'timed out' : 'aborted';
}

/** Runs a probe once. Resolves (never rejects) within the probe's timeout. */
export function runProbe(
  spec: ProbeSpec,
  target: ProbeTarget,
  exec: ProbeExec,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  const timeout = AbortSignal.timeout(Math.max(1, spec.timeoutMs));
  const bound = signal === undefined ? timeout : AbortSignal.any([timeout, signal]);
  const action = spec.action;
  if ('exec' in action) {
    const command = action.exec.command;
    return bounded(
      () => execProbe(command, spec.timeoutMs, exec),
      bound,
      () => ({ ok: false, message: `exec ${command.join(' ')}: ${abortMessage(bound)}` }),
    );
  }
  const where = 'tcp' in action ? action.tcp.port : action.http.port;
  const port = resolveProbePort(where, target);
  if (!port.ok) return Promise.resolve({ ok: false, message: port.message });
  if ('tcp' in action) return tcpProbe(target.address, port.port, bound);
  return httpProbe(target.address, port.port, action.http.path, bound);
}
