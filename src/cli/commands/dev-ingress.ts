/**
 * `dabba dev --deploy DIR --ingress PORT`: the deployed job at one address, the mesh's ingress on
 * this host (docs/mesh.md), whichever tasks serve it. The job is exposed in the cluster's
 * dependency file (unless a file someone else applied says otherwise: that one is left as it is), on
 * PORT when it is free, else on a port the system picks; the address is printed only once a request
 * through it has reached one of the job's own tasks, so it is always the real one.
 */
import { createServer } from 'node:net';
import type { DabbaClient } from '../../client/index.ts';
import { sleep } from '../../lib/index.ts';
import { findCommand } from '../../lib/system-deps/index.ts';
import { CliError } from '../cli-error.ts';
import { EXIT } from '../exit-codes.ts';

/** Where `dabba dev`'s agent runs the mesh's proxy: its own loopback address. */
export const DEV_MESH_ADDRESS = '127.0.0.1';

/** What dev writes in the message of the dependency file it applies (and so may replace). */
const DEV_MESSAGE = 'dabba dev --ingress:';

export const INGRESS_HELP =
  "with --deploy: serve the job through the mesh's ingress on this port of 127.0.0.1 (any free port when it is taken; the address is printed)";

export function parseIngress(v: string | undefined, deploy: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65_535)
    throw new CliError(`--ingress "${v}" must be a port from 1 to 65535`, EXIT.USAGE);
  if (deploy === undefined) throw new CliError('--ingress serves the job of --deploy: give both', EXIT.USAGE);
  return n;
}

/**
 * Why the ingress cannot be served here, or undefined when it can: the mesh's proxy is HAProxy, and
 * on a fresh machine `npm start` comes before `npm test` installs it. Said at once, instead of
 * waiting for an ingress that cannot answer.
 */
export async function ingressUnavailable(): Promise<string | undefined> {
  if ((await findCommand('haproxy')) !== undefined) return undefined;
  return "the mesh's ingress is off: HAProxy is not installed (apt-get install haproxy, or run npm test once: it installs what the tests need); reach the replicas at their own addresses above";
}

/** Whether `port` of `host` can be listened on now. */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port of `host` the system says is free now. */
export function anyFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host, port: 0, exclusive: true }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Whether `url` answers with a body naming one of `tasks` (one of this cluster's), within `ms`. */
async function answersFrom(url: string, tasks: readonly string[], ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      if (res.ok && tasks.some((t) => body.includes(t))) return true;
    } catch {
      // not listening yet (the proxy reloads with the new port), or taken by someone else
    }
    await sleep(500);
  }
  return false;
}

export type IngressResult = { url: string } | { note: string };

/**
 * Serves `job` through the ingress and says where (`tasks`: the job's task ids, to tell its own
 * answers from another cluster's on the same port). Tries the wanted port, then up to two ports
 * the system picks, each for `waitMs`.
 */
export async function serveThroughIngress(
  client: DabbaClient,
  job: string,
  wanted: number,
  tasks: readonly string[],
  waitMs = 60_000,
): Promise<IngressResult> {
  const current = await client.mesh();
  const exposed = current?.config.services[job]?.expose;
  if (current !== null && !current.message.startsWith(DEV_MESSAGE)) {
    // A dependency file someone applied: left as it is.
    if (exposed === undefined)
      return {
        note: `${job}: not served through the mesh (the cluster's dependency file does not expose it; add "expose: PORT" under services.${job} and apply it)`,
      };
    const url = `http://${DEV_MESH_ADDRESS}:${String(exposed)}/`;
    if (await answersFrom(url, tasks, waitMs)) return { url };
    return { note: `${job}: its ingress port ${String(exposed)} (from the dependency file) does not answer` };
  }
  // Dev's own file: already there from an earlier run (its proxy, adopted, serves it), or new.
  if (exposed !== undefined) {
    const url = `http://${DEV_MESH_ADDRESS}:${String(exposed)}/`;
    if (await answersFrom(url, tasks, Math.min(waitMs, 15_000))) return { url };
  }
  const tried: number[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const port =
      attempt === 0 && (await portFree(DEV_MESH_ADDRESS, wanted))
        ? wanted
        : await anyFreePort(DEV_MESH_ADDRESS);
    tried.push(port);
    await client.meshApply(
      { services: { [job]: { expose: port } } },
      `${DEV_MESSAGE} ${job} through the ingress on port ${String(port)}`,
    );
    const url = `http://${DEV_MESH_ADDRESS}:${String(port)}/`;
    if (await answersFrom(url, tasks, waitMs)) return { url };
  }
  return {
    note: `${job}: the mesh's ingress did not answer on port ${tried.join(', ')} (see the agent's mesh/haproxy.log)`,
  };
}
