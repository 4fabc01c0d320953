/**
 * Task networking: a Linux bridge (default dabba0) holding the agent's gateway address, the first
 * address of its range (e.g. 10.88.0.1/24) and, per task, a network namespace /run/netns/dabba-KEY
 * holding eth0 (one end of a veth pair whose other end, dbvKEY, is a port of the bridge), the
 * task's address, loopback up and a default route via the gateway. An nftables table keeps
 * forwarded traffic between the bridge and anything else out, except traffic from a task-network
 * address to a task-network address (tasks on other hosts, whose ranges the agent routes via their
 * hosts: host-gw, src/agent/peer-routes.ts); so tasks talk to each other (on any host) and to the
 * host only. With the mesh's proxy (proxyPorts), the table also keeps tasks from their host except
 * at the proxy's ports on a gateway address.
 *
 * Several agents on one machine may share a bridge, each with its own range of the task network
 * (10.88.0.0/24, 10.88.1.0/24, ...): each adds its gateway address next to the others' (the kernel
 * then routes each range to the bridge). A task gets an on-link route for each range that is on the
 * bridge when the agent sets it up (reached directly, without the host forwarding) and a route via
 * the gateway for the whole task network (the other hosts' ranges, and a range put on the bridge
 * later: through the host).
 */
import { RuntimeError } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import { formatCidr, parseCidr, rangeContains, rangesOverlap } from '../../lib/index.ts';
import type { Subnet } from './ipam.ts';
import type { ToolRunner } from './fork-helper.ts';
import { runTool } from './tool.ts';
import { IpBatcher } from './ip-batch.ts';

export interface TaskNet {
  netns: string;
  hostVeth: string;
  address: string;
}

export function netnsPath(netns: string): string {
  return `/run/netns/${netns}`;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export class BridgeNetwork {
  readonly bridge: string;
  readonly subnet: Subnet;
  /** The whole task network `subnet` is a range of, reachable on-link from tasks (if larger). */
  readonly taskNetwork: Subnet | undefined;
  private readonly ip: string;
  private readonly nft: string | undefined;
  private readonly logger: Logger;
  private readonly run: ToolRunner;
  /** Namespace creations of concurrent starts, batched (ip-batch.ts). */
  private readonly creations: IpBatcher;
  private readonly proxyPorts: ProxyPorts | undefined;
  /** Other ranges of the task network on the bridge when it was set up (on-link for tasks). */
  private sharedRanges: string[] = [];

  constructor(options: {
    bridge: string;
    subnet: Subnet;
    /**
     * The task network `subnet` is cut from (other agents' ranges on the same bridge): tasks get
     * an on-link route to it. Ignored unless it contains `subnet` and is larger.
     */
    taskNetwork?: Subnet;
    ip: string;
    nft?: string;
    logger: Logger;
    /** Runs ip and nft (default: spawned from this process). */
    run?: ToolRunner;
    /**
     * The mesh proxy's ports tasks reach on their gateway: with them, the firewall lets tasks
     * reach those ports of the host and nothing else of it.
     */
    proxyPorts?: ProxyPorts;
  }) {
    if (!IFNAME.test(options.bridge)) {
      throw new RuntimeError(`bad bridge name "${options.bridge}" (at most 15 letters, digits, . _ -)`, {
        details: { reason: 'BadNetwork' },
      });
    }
    this.bridge = options.bridge;
    this.subnet = options.subnet;
    this.taskNetwork = contains(options.taskNetwork, options.subnet) ? options.taskNetwork : undefined;
    this.ip = options.ip;
    this.nft = options.nft;
    this.logger = options.logger;
    this.run = options.run ?? runTool;
    this.proxyPorts = options.proxyPorts;
    this.creations = new IpBatcher((lines) =>
      this.run(this.ip, ['-force', '-batch', '-'], { input: lines.join('\n') + '\n', timeoutMs: 30_000 }),
    );
  }

  private async ipBatch(lines: string[], options: { netns?: string; force?: boolean } = {}): Promise<void> {
    const args = [
      ...(options.netns ? ['-n', options.netns] : []),
      ...(options.force ? ['-force'] : []),
      '-batch',
      '-',
    ];
    const r = await this.run(this.ip, args, { input: lines.join('\n') + '\n', timeoutMs: 30_000 });
    if (r.code !== 0 && !options.force) {
      throw new RuntimeError(`network setup failed: ${r.stderr.trim()}`, {
        details: { reason: 'StartFailed', commands: lines },
      });
    }
  }

  private tableName(): string {
    return `dabba_${this.bridge.replace(/[^A-Za-z0-9_]/g, '_')}`;
  }

  /** The IPv4 addresses on the bridge (local address and prefix length), or undefined if it does not exist. */
  private async bridgeAddresses(): Promise<{ local: string; prefixlen: number }[] | undefined> {
    const show = await this.run(this.ip, ['-j', 'addr', 'show', 'dev', this.bridge]);
    if (show.code !== 0) return undefined;
    const info = JSON.parse(show.stdout || '[]') as {
      addr_info?: { family?: string; local?: string; prefixlen?: number }[];
    }[];
    return (info[0]?.addr_info ?? [])
      .filter((a) => a.family === 'inet' && a.local !== undefined)
      .map((a) => ({ local: a.local ?? '', prefixlen: a.prefixlen ?? 32 }));
  }

  /**
   * Creates the bridge if missing, adds this agent's gateway address to it (next to whatever other
   * agents sharing the bridge put there, which stays), brings it up and installs the isolation
   * rules. Safe against another agent doing the same at the same moment.
   */
  async ensureBridge(): Promise<void> {
    const gwCidr = `${this.subnet.gateway}/${this.subnet.prefix}`;
    let addresses = await this.bridgeAddresses();
    if (addresses === undefined) {
      // Another agent may create it at the same moment: whoever loses finds it made.
      await this.ipBatch([`link add ${this.bridge} type bridge`], { force: true });
      addresses = await this.bridgeAddresses();
      if (addresses === undefined) {
        await this.ipBatch([`link add ${this.bridge} type bridge`]);
        addresses = [];
      }
      this.logger.info({ bridge: this.bridge }, 'created bridge');
    }
    // The gateway may already be there with another prefix (an older, wider range of this agent):
    // it is kept, so tasks started with that range keep their route.
    if (!addresses.some((a) => a.local === this.subnet.gateway)) {
      const others = addresses
        .filter((a) => overlaps(a, this.subnet))
        .map((a) => `${a.local}/${a.prefixlen}`);
      if (others.length > 0)
        this.logger.info(
          { bridge: this.bridge, others },
          'the bridge carries other ranges of the task network',
        );
      await this.ipBatch([`addr add ${gwCidr} dev ${this.bridge}`], { force: true });
      const now = await this.bridgeAddresses();
      if (!now?.some((a) => a.local === this.subnet.gateway)) {
        await this.ipBatch([`addr add ${gwCidr} dev ${this.bridge}`]);
      }
      this.logger.info({ bridge: this.bridge, gateway: gwCidr }, 'added the gateway address to the bridge');
    }
    await this.ipBatch([`link set ${this.bridge} up`]);
    this.sharedRanges = sharedRanges(addresses, this.subnet, this.taskNetwork);
    if (this.nft) {
      const t = this.tableName();
      const b = this.bridge;
      const rules = isolationRules(t, b, this.taskNetwork?.cidr);
      const r = await this.run(this.nft, ['-f', '-'], { input: rules + '\n' });
      if (r.code !== 0)
        this.logger.warn({ err: r.stderr.trim() }, 'could not install nftables isolation rules');
      await this.ensureProxyInput(this.nft);
    }
  }

  /**
   * This agent's tasks' way to their host (a table of its own, for its range only, so agents
   * sharing the bridge keep theirs): with the mesh's proxy, only its ports on the gateway; without,
   * the table is removed (tasks reach their host as any client).
   */
  private async ensureProxyInput(nft: string): Promise<void> {
    const table = proxyInputTable(this.bridge, this.subnet.gateway);
    const rules =
      this.proxyPorts === undefined
        ? [`table inet ${table} {}`, `delete table inet ${table}`].join('\n')
        : proxyInputRules(table, this.bridge, {
            ...this.proxyPorts,
            range: this.subnet.cidr,
            gateway: this.subnet.gateway,
          });
    const r = await this.run(nft, ['-f', '-'], { input: rules + '\n' });
    if (r.code !== 0)
      this.logger.warn(
        { err: r.stderr.trim() },
        "could not install the nftables rules for tasks' way to the host",
      );
  }

  /** Whether the bridge is there (the self-check; a deleted bridge cuts every task off). */
  async exists(): Promise<boolean> {
    return (await this.bridgeAddresses()) !== undefined;
  }

  /**
   * Plugs a running task's host end of its veth into the bridge again (after the bridge was made
   * anew: deleting a bridge leaves its ports unplugged). False when the veth is not there.
   */
  async reattach(hostVeth: string): Promise<boolean> {
    const r = await this.run(this.ip, ['link', 'set', hostVeth, 'master', this.bridge, 'up']);
    return r.code === 0;
  }

  /** Removes the bridge and its rules (for tests and uninstall; tasks must be gone). */
  async destroyBridge(): Promise<void> {
    await this.ipBatch([`link del ${this.bridge}`], { force: true });
    if (this.nft) {
      await this.run(this.nft, ['delete', 'table', 'inet', this.tableName()]);
      await this.run(this.nft, [
        'delete',
        'table',
        'inet',
        proxyInputTable(this.bridge, this.subnet.gateway),
      ]);
    }
  }

  /**
   * Creates the task's network namespace with its end of a veth pair (eth0, still unconfigured)
   * and plugs the other end (hostVeth) into the bridge, in one `ip -batch` (`netns add` in a batch
   * leaves ip in the host's namespace). All the container needs to be created. Starts at the same
   * time share one `ip` run (ip-batch.ts).
   */
  async createNamespace(t: Pick<TaskNet, 'netns' | 'hostVeth'>): Promise<void> {
    await this.creations.run([
      `netns add ${t.netns}`,
      `link add ${t.hostVeth} type veth peer name eth0 netns ${t.netns}`,
      `link set ${t.hostVeth} master ${this.bridge} up`,
    ]);
  }

  /**
   * Configures the inside of the namespace: the task's address on eth0, loopback and a default
   * route via the bridge. Can run while the container is being created.
   */
  async connect(t: TaskNet): Promise<void> {
    await this.ipBatch(
      [
        // A MAC derived from the address (as Docker did): a task restarted in place keeps its
        // address, and with it its MAC, so the neighbours' ARP entries for it stay right.
        `link set eth0 address ${macOf(t.address)}`,
        `addr add ${t.address}/${this.subnet.prefix} dev eth0`,
        `link set eth0 up`,
        `link set lo up`,
        `route add default via ${this.subnet.gateway}`,
        // Other hosts' ranges (host-gw): through the host, which routes each via its host.
        ...(this.taskNetwork ? [`route add ${this.taskNetwork.cidr} via ${this.subnet.gateway}`] : []),
        // Other agents' ranges on the same bridge: straight there, not through the gateway.
        ...this.sharedRanges.map((r) => `route add ${r} dev eth0`),
      ],
      { netns: t.netns },
    );
  }

  /** Deletes the veth pair and the namespace; missing pieces are fine. */
  async teardown(t: Pick<TaskNet, 'netns' | 'hostVeth'>): Promise<void> {
    await this.ipBatch([`link del ${t.hostVeth}`, `netns del ${t.netns}`], { force: true });
  }
}

/** 02:db:A:B:C:D for A.B.C.D: locally administered, unicast, one per address. */
export function macOf(address: string): string {
  const bytes = address.split('.').map((b) => Number(b).toString(16).padStart(2, '0'));
  return ['02', 'db', ...bytes].join(':');
}

/** Whether `outer` contains `inner` and is larger. */
function contains(outer: Subnet | undefined, inner: Subnet): boolean {
  return outer !== undefined && outer.prefix < inner.prefix && rangeContains(outer, inner);
}

/**
 * The bridge's nftables table: forwarded traffic into or out of the bridge is dropped, except
 * (with a task network) from a task-network address to a task-network address, which is how tasks
 * reach tasks on other hosts (host-gw). Traffic between ports of the bridge and between tasks and
 * the host itself is not forwarded traffic, so it is not touched.
 */
export function isolationRules(table: string, bridge: string, taskNetwork?: string): string {
  const between = taskNetwork === undefined ? '' : `ip saddr ${taskNetwork} ip daddr ${taskNetwork} `;
  return [
    `table inet ${table} {}`,
    `flush table inet ${table}`,
    `table inet ${table} {`,
    `  chain forward {`,
    `    type filter hook forward priority -10; policy accept;`,
    ...(taskNetwork === undefined
      ? []
      : [
          `    iifname "${bridge}" oifname != "${bridge}" ${between}accept`,
          `    iifname != "${bridge}" oifname "${bridge}" ${between}accept`,
        ]),
    `    iifname "${bridge}" oifname != "${bridge}" drop`,
    `    iifname != "${bridge}" oifname "${bridge}" drop`,
    `  }`,
    `}`,
  ].join('\n');
}

/** The nftables table (inet) of an agent's tasks' way to their host: one per bridge and range. */
export function proxyInputTable(bridge: string, gateway: string): string {
  return `dabba_${bridge.replace(/[^A-Za-z0-9_]/g, '_')}_in_${gateway.replace(/\./g, '_')}`;
}

/**
 * With the mesh's proxy on the host: traffic from the agent's tasks (its range) to the host itself
 * (input) passes only to the proxy's listener ports on its gateway, plus replies to connections the
 * host opened (the proxy's and the probes' to tasks); the rest of the host is out of their reach.
 */
export function proxyInputRules(
  table: string,
  bridge: string,
  p: ProxyPorts & { range: string; gateway: string },
): string {
  const from = `iifname "${bridge}" ip saddr ${p.range}`;
  return [
    `table inet ${table} {}`,
    `flush table inet ${table}`,
    `table inet ${table} {`,
    `  chain input {`,
    `    type filter hook input priority -10; policy accept;`,
    `    ${from} ct state established,related accept`,
    `    ${from} ip daddr ${p.gateway} tcp dport ${String(p.from)}-${String(p.to)} accept`,
    `    ${from} drop`,
    `  }`,
    `}`,
  ].join('\n');
}

/** The ports of the host's mesh proxy that tasks may reach on their gateway (docs/mesh.md). */
export interface ProxyPorts {
  from: number;
  to: number;
}

/**
 * The ranges of the task network other agents put on the bridge (from its addresses), not this
 * agent's own: reached on-link from this agent's tasks.
 */
function sharedRanges(
  addresses: readonly { local: string; prefixlen: number }[],
  own: Subnet,
  taskNetwork: Subnet | undefined,
): string[] {
  if (taskNetwork === undefined) return [];
  const out = new Set<string>();
  for (const a of addresses) {
    const range = parseCidr(`${a.local}/${a.prefixlen}`);
    if (range === undefined || range.prefix <= taskNetwork.prefix || rangesOverlap(range, own)) continue;
    if (!rangeContains(taskNetwork, range)) continue;
    out.add(formatCidr(range));
  }
  return [...out];
}

/** Whether an address on the bridge (with its prefix) overlaps `subnet`. */
function overlaps(a: { local: string; prefixlen: number }, subnet: Subnet): boolean {
  const range = parseCidr(`${a.local}/${a.prefixlen}`);
  return range !== undefined && rangesOverlap(range, subnet);
}

/** Interfaces and namespaces that exist now (for leak checks). */
export async function listLinks(ip = 'ip'): Promise<string[]> {
  const r = await runTool(ip, ['-j', 'link', 'show']);
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

export async function listNetns(ip = 'ip'): Promise<string[]> {
  const r = await runTool(ip, ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((l) => l !== '');
}
