/**
 * The agent's side of the mesh: follows what this host's proxy is made from (the dependency file
 * and its services' endpoints, `GET /v1/hosts/ID/mesh?watch=1`), keeps the proxy's structure and
 * servers in step, keeps it running, and says which variables a task of a service gets.
 */
import type { DabbaClient } from '../../client/index.ts';
import { backoffDelay, sleep, type Logger } from '../../lib/index.ts';
import { splitJobId, type HostMeshStats, type HostMeshView } from '../../model/index.ts';
import { AccessLogTail } from './access-tail.ts';
import { writeInboundTls, type ProxyIdentity } from './inbound-tls.ts';
import {
  INGRESS,
  proxyLayout,
  proxyServers,
  taskPortRange,
  upstreamEnv,
  type InboundTls,
  type ProxyLayout,
} from './plan.ts';
import { ProxySupervisor } from './proxy.ts';
import { meshSamples, readProxyStats, type MeshSample } from './stats.ts';

/** How long a task that callers reach through the mesh is drained before SIGTERM. */
export const DRAIN_MS = 1500;

export interface MeshHostOptions {
  client: DabbaClient;
  hostId: string;
  /** The proxy's directory (config, pid file, admin socket, access log). */
  dir: string;
  /** The address the proxy's listeners bind and tasks reach it at. */
  address: string;
  /** The first listener port (ports are numbered from it in name order, the same on every host). */
  portBase: number;
  /**
   * Where this host's tasks reach the proxy, when not at `address`: containers reach it at their
   * bridge's gateway, known once the runtime has set its network up (asked at the first apply).
   */
  taskAddress?: () => Promise<string>;
  logger: Logger;
  /**
   * The host's certificate, key and the cluster CA: with them the proxy has an inbound side (on
   * `portBase`) and reaches other hosts' tasks through their proxies over mutual TLS.
   */
  identity?: ProxyIdentity;
}

export class MeshHost {
  readonly #o: MeshHostOptions;
  readonly proxy: ProxySupervisor;
  #layout: ProxyLayout | undefined;
  readonly #log: AccessLogTail;
  #identity: ProxyIdentity | undefined;
  #tls: InboundTls | undefined;
  #view: HostMeshView | undefined;
  #taskAddress: string | undefined;
  #applying: Promise<void> = Promise.resolve();

  constructor(o: MeshHostOptions) {
    this.#o = o;
    this.proxy = new ProxySupervisor({ dir: o.dir, logger: o.logger });
    this.#log = new AccessLogTail(this.proxy.logPath);
    this.#identity = o.identity;
  }

  /** A renewed certificate: written for the proxy, which reloads with it (its structure names it). */
  setIdentity(identity: ProxyIdentity): void {
    this.#identity = identity;
    this.#tls = undefined;
    const view = this.#view;
    if (view !== undefined)
      void this.#apply(view).catch((e: unknown) =>
        this.#o.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'mesh proxy not renewed'),
      );
  }

  /** Brings the proxy to `view` (one at a time). */
  #apply(view: HostMeshView): Promise<void> {
    const next = this.#applying.then(async () => {
      if (view.mesh === null) return;
      this.#view = view;
      if (this.#identity !== undefined && this.#tls === undefined)
        this.#tls = await writeInboundTls(this.#o.dir, this.#identity);
      this.#taskAddress ??= (await this.#o.taskAddress?.()) ?? this.#o.address;
      const o = this.#o;
      const layout = proxyLayout(view.mesh.config, o.address, o.portBase, this.#tls, this.#taskAddress);
      const last = Math.max(0, ...layout.routes.filter((r) => r.caller !== INGRESS).map((r) => r.port));
      if (last > taskPortRange(o.portBase).to)
        o.logger.warn(
          { last, reachable: taskPortRange(o.portBase) },
          "the dependency file needs more listener ports than containers may reach; the last callers' are cut off",
        );
      const place = { host: this.#o.hostId, hosts: view.hosts ?? {} };
      await this.proxy.apply(layout, proxyServers(layout, view.endpoints, place));
      this.#layout = layout;
    });
    this.#applying = next.catch(() => undefined);
    return next;
  }

  /**
   * This host's proxy's stats now (HAProxy's counters and its access log's), or undefined when it
   * runs no proxy yet (no dependency file).
   */
  async stats(): Promise<HostMeshStats | undefined> {
    const layout = this.#layout;
    if (layout === undefined || this.proxy.pid === undefined) return undefined;
    await this.#log.catchUp();
    return readProxyStats(this.proxy.socket, layout.routes, this.#log.counts, this.#o.hostId, Date.now(), {
      ...(layout.inbound === undefined ? {} : { inbound: layout.inbound.services }),
      denied: this.#log.denied,
    });
  }

  /** The stats as samples for the telemetry store (none without a proxy, or when it does not answer). */
  async samples(): Promise<MeshSample[]> {
    const s = await this.stats().catch((e: unknown) => {
      this.#o.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'mesh stats unreadable');
      return undefined;
    });
    return s === undefined ? [] : meshSamples(s);
  }

  /** Reads the access log every few seconds, so a rotation between two reads of stats loses little. */
  async #followLog(signal: AbortSignal): Promise<void> {
    await this.#log.catchUp().catch(() => undefined);
    while (!signal.aborted) {
      await sleep(5000, signal).catch(() => undefined);
      if (!signal.aborted) await this.#log.catchUp().catch(() => undefined);
    }
  }

  /** DABBA_UPSTREAM_<NAME> (and DABBA_MESH) for a task of this job (an id: `name` or `ns:name`). */
  env(job: string): Record<string, string> {
    const { namespace, name } = splitJobId(job);
    if (this.#layout === undefined || namespace !== 'default') return {};
    return upstreamEnv(this.#layout, name);
  }

  /**
   * How long a stopping task of this job keeps running before SIGTERM: long enough for every host's
   * proxy to see it leave the endpoints, when some caller (or ingress) routes to its service.
   */
  drainMs(job: string): number {
    const { namespace, name } = splitJobId(job);
    if (this.#layout === undefined || namespace !== 'default') return 0;
    return this.#layout.routes.some((r) => r.upstream === name) ? DRAIN_MS : 0;
  }

  /** Follows the server until `signal` aborts; the proxy keeps running after (like tasks). */
  async run(signal: AbortSignal): Promise<void> {
    const supervising = this.proxy.supervise(signal);
    const following = this.#followLog(signal);
    let attempt = 0;
    while (!signal.aborted) {
      try {
        for await (const view of this.#o.client.watchHostMesh(this.#o.hostId, signal)) {
          attempt = 0;
          if (view.mesh === null) continue;
          await this.#apply(view);
          this.#o.logger.debug({ version: view.mesh.version, revision: view.revision }, 'mesh proxy in step');
        }
      } catch (e) {
        if (signal.aborted) break;
        this.#o.logger.warn(
          { err: e instanceof Error ? e.message : String(e) },
          'mesh watch failed; retrying',
        );
      }
      await sleep(backoffDelay(attempt++, { initialMs: 500, maxMs: 10_000 }), signal).catch(() => undefined);
    }
    await Promise.all([supervising, following]);
  }
}
