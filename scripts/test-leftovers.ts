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

const KEPT = new Set(['link dabba0', 'table dabba_dabba0']);

function outputLines(cmd: string, args: string[]): string[] {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.split('\n') : [];
}

/** Dabba's namespaces, links and tables on the machine now, as `netns NAME`, `link NAME`, `table NAME`. */
export function machineObjects(): string[] {
  if (process.platform !== 'linux') return [];
  const out: string[] = [];
  for (const l of outputLines('ip', ['netns', 'list'])) {
    const name = l.trim().split(/\s+/)[0];
    if (name?.startsWith('dabba-')) out.push(`netns ${name}`);
  }
  for (const l of outputLines('ip', ['-o', 'link', 'show'])) {
    const m = /^\d+:\s+((?:db|dtb|dabba)[^:@\s]*)/.exec(l);
    if (m?.[1]) out.push(`link ${m[1]}`);
  }
  if (process.getuid?.() === 0)
    for (const l of outputLines('nft', ['list', 'tables'])) {
      const m = /^table inet (dabba_\S+)$/.exec(l.trim());
      if (m?.[1]) out.push(`table ${m[1]}`);
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
