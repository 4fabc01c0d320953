/**
 * What the config distribution benchmarks on the testbed share: switching the server between the
 * tree (a fan-out) and the star (fan-out 0: every host fetches from the server) on the same hosts,
 * and reading `config status`.
 */
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
