/**
 * Host-gw routing (as Kubernetes' flannel host-gw): for every other live host holding a range of
 * the task network, a route `RANGE via HOST_ADDRESS` in this host's main routing table, so a task
 * reaches a task on another host by its address (the bridge's nftables table lets forwarded traffic
 * between task-network addresses through; see src/runtime/oci/network.ts). The hosts must reach
 * each other's advertised addresses directly (one link, as for host-gw).
 *
 * The routes carry their own protocol number (ROUTE_PROTO), so the agent finds the ones it made
 * (also a previous agent's) and changes only those: it follows `GET /v1/hosts/ID/peers?watch=1`
 * and, after each change, adds, moves and deletes its routes in one `ip -batch`. Like the bridge
 * and the tasks, the routes stay when the agent stops (traffic keeps flowing); the next agent
 * brings them in step.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import type { DabbaClient } from '../client/index.ts';
import { messageOf } from '../errors/index.ts';
import { backoffDelay, parseCidr, parseIpv4, rangeContains, sleep } from '../lib/index.ts';
import type { Logger } from '../lib/index.ts';
import type { HostPeer } from '../model/index.ts';

/**
 * The routing protocol number of the routes the agent makes (`ip route ... proto 219`): 0xdb, as in
 * the tasks' MACs (02:db:...); no routing daemon uses it (iproute2's rt_protos).
 */
export const ROUTE_PROTO = 219;

export interface PeerRoutesOptions {
  client: DabbaClient;
  hostId: string;
  /** This host's range of the task network. */
  subnet: string;
  /** The task network the ranges are cut from: only ranges inside it are routed. */
  taskNetwork: string;
  logger: Logger;
  /** The `ip` binary (default: `ip` on PATH). */
  ip?: string;
  /** The IPv4 forwarding switch (default /proc/sys/net/ipv4/ip_forward of the agent's namespace). */
  forwardingFile?: string;
}

/**
 * The routes wanted for `peers`: range -> next hop. Left out: this host's own range, a range
 * outside the task network, a peer whose address is not IPv4 or is this host's own (agents on one
 * machine share its bridge, where the ranges are on-link), and a second claim on one range.
 */
export function wantedRoutes(
  peers: readonly HostPeer[],
  o: { subnet: string; taskNetwork: string; local: ReadonlySet<string> },
): Map<string, string> {
  const network = parseCidr(o.taskNetwork);
  const own = parseCidr(o.subnet);
  const out = new Map<string, string>();
  for (const p of peers) {
    const range = parseCidr(p.subnet);
    const via = parseIpv4(p.address);
    if (range === undefined || via === undefined || network === undefined) continue;
    if (!rangeContains(network, range) || (own !== undefined && own.base === range.base)) continue;
    if (o.local.has(p.address) || p.address.startsWith('127.')) continue;
    if (!out.has(p.subnet)) out.set(p.subnet, p.address);
  }
  return out;
}

/**
 * Whether this host must forward IPv4: some peer holds another range of the task network. Also a
 * peer on this machine (sharing its bridge): its range is on-link for tasks set up after it came,
 * but tasks set up before reach it through the host, via their gateway (src/runtime/oci/network.ts).
 */
export function needsForwarding(
  peers: readonly HostPeer[],
  o: { subnet: string; taskNetwork: string },
): boolean {
  const network = parseCidr(o.taskNetwork);
  const own = parseCidr(o.subnet);
  if (network === undefined) return false;
  return peers.some((p) => {
    const range = parseCidr(p.subnet);
    return (
      range !== undefined && rangeContains(network, range) && (own === undefined || own.base !== range.base)
    );
  });
}

/**
 * `ip -batch` lines that bring this agent's routes (`mine`: range -> next hop) to `wanted`,
 * leaving alone any range another route already covers exactly (`others`, e.g. a bridge's own).
 */
export function routeChanges(
  mine: ReadonlyMap<string, string>,
  wanted: ReadonlyMap<string, string>,
  others: ReadonlySet<string> = new Set(),
): string[] {
  const lines: string[] = [];
  for (const dst of mine.keys()) {
    if (!wanted.has(dst) || others.has(dst)) lines.push(`route del ${dst} proto ${ROUTE_PROTO}`);
  }
  for (const [dst, via] of wanted) {
    if (others.has(dst) || mine.get(dst) === via) continue;
    lines.push(`route replace ${dst} via ${via} proto ${ROUTE_PROTO}`);
  }
  return lines;
}

interface RouteJson {
  dst?: string;
  gateway?: string;
  protocol?: string | number;
}

/** Runs a tool; resolves with its exit code and output (never rejects). */
function run(
  cmd: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => resolve({ code: -1, stdout, stderr: stderr + e.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** This machine's (the agent's network namespace's) IPv4 addresses. */
function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4') out.add(a.address);
  }
  return out;
}

export class PeerRoutes {
  readonly #o: PeerRoutesOptions;
  readonly #ip: string;
  /** Ranges left alone because another route covers them (warned once each). */
  readonly #warned = new Set<string>();
  #forwarding = false;

  constructor(o: PeerRoutesOptions) {
    this.#o = o;
    this.#ip = o.ip ?? 'ip';
  }

  /** The main table's routes: this agent's (range -> next hop) and every other destination. */
  async routes(): Promise<{ mine: Map<string, string>; others: Set<string> }> {
    const r = await run(this.#ip, ['-j', 'route', 'show', 'table', 'main']);
    if (r.code !== 0) throw new Error(`ip route show failed: ${r.stderr.trim()}`);
    const mine = new Map<string, string>();
    const others = new Set<string>();
    for (const route of JSON.parse(r.stdout || '[]') as RouteJson[]) {
      if (route.dst === undefined) continue;
      // A /32 or the default shows without a prefix; ranges always have one.
      if (String(route.protocol) === String(ROUTE_PROTO)) mine.set(route.dst, route.gateway ?? '');
      else others.add(route.dst);
    }
    return { mine, others };
  }

  /** Brings this host's routes to `peers` (one `ip -batch`); returns the lines it ran. */
  async apply(peers: readonly HostPeer[]): Promise<string[]> {
    const wanted = wantedRoutes(peers, {
      subnet: this.#o.subnet,
      taskNetwork: this.#o.taskNetwork,
      local: localAddresses(),
    });
    // Forwarding is needed only once there is another range to reach (not for a lone `dabba dev`).
    if (!this.#forwarding && needsForwarding(peers, this.#o))
      this.#forwarding = await this.enableForwarding();
    const { mine, others } = await this.routes();
    for (const dst of wanted.keys()) {
      if (others.has(dst) && !this.#warned.has(dst)) {
        this.#warned.add(dst);
        this.#o.logger.warn(
          { range: dst },
          'another route covers this task range already; not routed via its host',
        );
      }
    }
    const lines = routeChanges(mine, wanted, others);
    if (lines.length === 0) return lines;
    const r = await run(this.#ip, ['-force', '-batch', '-'], lines.join('\n') + '\n');
    if (r.code !== 0) this.#o.logger.warn({ err: r.stderr.trim(), lines }, 'some task range routes failed');
    else this.#o.logger.info({ lines }, 'task range routes changed');
    return lines;
  }

  /**
   * Turns IPv4 forwarding on in the agent's namespace (tasks' traffic to other hosts crosses it);
   * whether it is on.
   */
  async enableForwarding(): Promise<boolean> {
    const file = this.#o.forwardingFile ?? '/proc/sys/net/ipv4/ip_forward';
    try {
      if ((await readFile(file, 'utf8')).trim() === '1') return true;
      await writeFile(file, '1\n');
      this.#o.logger.info('turned IPv4 forwarding on (routes between hosts’ task ranges)');
      return true;
    } catch (e) {
      this.#o.logger.warn(
        { err: messageOf(e) },
        'could not turn IPv4 forwarding on; tasks on other hosts are unreachable',
      );
      return false;
    }
  }

  /** Follows the server's list of peers until `signal` aborts; the routes stay after. */
  async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      try {
        for await (const view of this.#o.client.watchHostPeers(this.#o.hostId, signal)) {
          attempt = 0;
          await this.apply(view.peers);
        }
      } catch (e) {
        if (signal.aborted) break;
        this.#o.logger.warn({ err: messageOf(e) }, 'task range routes: peer watch failed; retrying');
      }
      await sleep(backoffDelay(attempt++, { initialMs: 500, maxMs: 10_000 }), signal).catch(() => undefined);
    }
  }
}

/**
 * Routes the other hosts' task ranges via their hosts until `signal` aborts, when the server gave
 * this host a range of a task network (a runtime with task addresses); else nothing to do.
 */
export function routePeers(
  client: DabbaClient,
  hostId: string,
  network: { subnet: string; taskNetwork?: string } | undefined,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  if (network?.taskNetwork === undefined) return Promise.resolve();
  const routes = new PeerRoutes({
    client,
    hostId,
    subnet: network.subnet,
    taskNetwork: network.taskNetwork,
    logger: logger.child({ part: 'host-gw' }),
  });
  return routes.run(signal);
}
