/**
 * Task networking: one Linux bridge per agent (default dabba0, 10.88.0.1/16) and, per task, a
 * network namespace /run/netns/dabba-KEY holding eth0 (one end of a veth pair whose other end,
 * dbvKEY, is a port of the bridge), the task's address, loopback up and a default route via the
 * bridge. An nftables table keeps forwarded traffic between the bridge and anything else out, so
 * tasks talk to each other and the host only.
 */
import { RuntimeError } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import type { Subnet } from './ipam.ts';
import type { ToolRunner } from './fork-helper.ts';
import { runTool } from './tool.ts';

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
  private readonly ip: string;
  private readonly nft: string | undefined;
  private readonly logger: Logger;
  private readonly run: ToolRunner;

  constructor(options: {
    bridge: string;
    subnet: Subnet;
    ip: string;
    nft?: string;
    logger: Logger;
    /** Runs ip and nft (default: spawned from this process). */
    run?: ToolRunner;
  }) {
    if (!IFNAME.test(options.bridge)) {
      throw new RuntimeError(`bad bridge name "${options.bridge}" (at most 15 letters, digits, . _ -)`, {
        details: { reason: 'BadNetwork' },
      });
    }
    this.bridge = options.bridge;
    this.subnet = options.subnet;
    this.ip = options.ip;
    this.nft = options.nft;
    this.logger = options.logger;
    this.run = options.run ?? runTool;
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

  /** Creates the bridge (with the gateway address) and the isolation rules if missing. */
  async ensureBridge(): Promise<void> {
    const show = await this.run(this.ip, ['-j', 'addr', 'show', 'dev', this.bridge]);
    const gwCidr = `${this.subnet.gateway}/${this.subnet.prefix}`;
    if (show.code !== 0) {
      await this.ipBatch([
        `link add ${this.bridge} type bridge`,
        `addr add ${gwCidr} dev ${this.bridge}`,
        `link set ${this.bridge} up`,
      ]);
      this.logger.info({ bridge: this.bridge, gateway: gwCidr }, 'created bridge');
    } else {
      const info = JSON.parse(show.stdout || '[]') as {
        addr_info?: { local?: string }[];
        operstate?: string;
      }[];
      const has = info[0]?.addr_info?.some((a) => a.local === this.subnet.gateway) ?? false;
      const lines = has ? [] : [`addr add ${gwCidr} dev ${this.bridge}`];
      lines.push(`link set ${this.bridge} up`);
      await this.ipBatch(lines);
    }
    if (this.nft) {
      const t = this.tableName();
      const b = this.bridge;
      const rules = [
        `table inet ${t} {}`,
        `flush table inet ${t}`,
        `table inet ${t} {`,
        `  chain forward {`,
        `    type filter hook forward priority -10; policy accept;`,
        `    iifname "${b}" oifname != "${b}" drop`,
        `    iifname != "${b}" oifname "${b}" drop`,
        `  }`,
        `}`,
      ].join('\n');
      const r = await this.run(this.nft, ['-f', '-'], { input: rules + '\n' });
      if (r.code !== 0)
        this.logger.warn({ err: r.stderr.trim() }, 'could not install nftables isolation rules');
    }
  }

  /** Removes the bridge and its rules (for tests and uninstall; tasks must be gone). */
  async destroyBridge(): Promise<void> {
    await this.ipBatch([`link del ${this.bridge}`], { force: true });
    if (this.nft) await this.run(this.nft, ['delete', 'table', 'inet', this.tableName()]);
  }

  /**
   * Creates the task's network namespace with its end of a veth pair (eth0, still unconfigured)
   * and plugs the other end (hostVeth) into the bridge, in one `ip -batch` (`netns add` in a batch
   * leaves ip in the host's namespace). All the container needs to be created.
   */
  async createNamespace(t: Pick<TaskNet, 'netns' | 'hostVeth'>): Promise<void> {
    await this.ipBatch([
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
        `addr add ${t.address}/${this.subnet.prefix} dev eth0`,
        `link set eth0 up`,
        `link set lo up`,
        `route add default via ${this.subnet.gateway}`,
      ],
      { netns: t.netns },
    );
  }

  /** Deletes the veth pair and the namespace; missing pieces are fine. */
  async teardown(t: Pick<TaskNet, 'netns' | 'hostVeth'>): Promise<void> {
    await this.ipBatch([`link del ${t.hostVeth}`, `netns del ${t.netns}`], { force: true });
  }
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
