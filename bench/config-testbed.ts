/**
 * What the config distribution benchmarks on the testbed share: switching the server between the
 * tree (a fan-out) and the star (fan-out 0: every host fetches from the server) on the same hosts,
 * and reading `config status`.
 */
import { execFileSync } from 'node:child_process';
import type { ConfigStatusView } from '../src/model/index.ts';
import type { Testbed } from '../scripts/testbed/index.ts';

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function status(tb: Testbed, path: string): Promise<ConfigStatusView> {
  const r = await tb.cli(['config', 'status', path, '--json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as ConfigStatusView;
}

/** Restarts the server with `--config-fanout F`; resolves once every host is back in the tree. */
export async function useFanout(tb: Testbed, path: string, fanout: number, hosts: number): Promise<void> {
  await tb.stopServer();
  tb.serverArgs = ['--config-fanout', String(fanout)];
  await tb.startServer();
  await until(
    `the ${hosts} hosts in a tree of fan-out ${fanout}`,
    async () => {
      const t = (await status(tb, path)).tree;
      return t && t.fanout === fanout && t.members.length === hosts ? true : undefined;
    },
    180_000,
    500,
  );
}

/**
 * Limits the testbed's links with `tc` (a token bucket at RATE, e.g. 1gbit) to emulate NICs: every
 * host's upload (its eth0) and download (the bridge side of its veth), and the server's NIC (the
 * bridge device, through which the server's traffic to the hosts leaves).
 */
export function limitLinks(tb: Testbed, rate: string): void {
  const tbf = (dev: string, ns?: string): void => {
    const args = [
      'qdisc',
      'replace',
      'dev',
      dev,
      'root',
      'tbf',
      'rate',
      rate,
      'burst',
      '1mb',
      'latency',
      '100ms',
    ];
    execFileSync('tc', ns === undefined ? args : ['-n', ns, ...args]);
  };
  tbf(tb.plan.bridge);
  for (const h of tb.hosts) {
    tbf('eth0', h.ns);
    tbf(h.veth);
  }
}
