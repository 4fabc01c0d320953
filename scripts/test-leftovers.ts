/**
 * What a test run left on the machine that was not there before it: network namespaces, links and
 * Dabba's nftables tables (`inet dabba_*`) made during the run and still there after it, that is a
 * fixture that did not clean up (every test must, even when it fails). Each costs later runs: a
 * stale table is one more chain every bridged packet of the machine goes through.
 *
 * Only Dabba's names are looked at: namespaces `dabba-*` (tasks', testbeds'), links `db*`, `dtb*` and
 * `dabba*` (task veths, test bridges, testbeds' bridges and veths), tables `inet dabba_*`. Kept by
 * design, and so not counted: the dev cluster's shared bridge `dabba0` and its table, which `dabba
 * dev` makes once per machine and every later one reuses (as Docker keeps docker0).
 *
 * It compares the machine before and after, so anything else making such objects meanwhile (a `dabba
 * dev` of your own restarting tasks, a second test run) is counted too: run the suite alone, or set
 * DABBA_TEST_LEFTOVERS=report to print what is left without failing the run.
 */
import { spawnSync } from 'node:child_process';
import { listLinks, listNetns } from './testbed/index.ts';

const KEPT = new Set(['link dabba0', 'table dabba_dabba0']);

/** Dabba's namespaces, links and tables on the machine now, as `netns NAME`, `link NAME`, `table NAME`. */
export function machineObjects(): string[] {
  if (process.platform !== 'linux') return [];
  const out = [
    ...listNetns()
      .filter((n) => n.startsWith('dabba-'))
      .map((n) => `netns ${n}`),
    ...listLinks()
      .filter((n) => /^(db|dtb|dabba)/.test(n))
      .map((n) => `link ${n}`),
  ];
  if (process.getuid?.() === 0) {
    const r = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8', timeout: 10_000 });
    for (const l of r.status === 0 ? r.stdout.split('\n') : []) {
      const m = /^table inet (dabba_\S+)$/.exec(l.trim());
      if (m?.[1]) out.push(`table ${m[1]}`);
    }
  }
  return out;
}

/** What `after` has that `before` had not, less what is kept by design. */
export function leftBehind(before: readonly string[], after: readonly string[]): string[] {
  const had = new Set(before);
  return after.filter((o) => !had.has(o) && !KEPT.has(o));
}

/** How to remove one of them by hand. */
export function removalCommand(object: string): string {
  const [kind, name] = object.split(' ');
  if (kind === 'netns') return `ip netns del ${name}`;
  if (kind === 'link') return `ip link del ${name}`;
  return `nft delete table inet ${name}`;
}
