/**
 * A dabba fleet on one machine: a server on a bridge and N hosts, each a network namespace with its
 * own address and agent. Needs root. See docs/testbed.md.
 *
 *   node scripts/testbed.ts up --hosts 4 [--racks 2] [--datacenters 1] [--region tb]
 *                              [--label 0:disk=ssd]... [--host-timeout 3s] [--state-dir D]
 *       builds it, prints the server URL, the hosts and an `export DABBA_ADDR=...` line, and keeps
 *       running until Ctrl-C (or SIGTERM), then tears everything down.
 *   node scripts/testbed.ts down --state-dir D    cleans a testbed left by a crash
 *   node scripts/testbed.ts down --stale          cleans every testbed whose owner process is gone
 *   node scripts/testbed.ts ls                    the slots in use
 */
import { parseArgs } from 'node:util';
import {
  SLOT_COUNT,
  readSlot,
  readState,
  reclaim,
  slotPlan,
  staleSlots,
  startTestbed,
  teardownSlot,
  type TeardownReport,
} from './testbed/index.ts';
import { isSameProcessAlive } from './testbed/system.ts';

const USAGE = `usage:
  node scripts/testbed.ts up --hosts N [--racks R] [--datacenters D] [--region NAME]
                             [--label I:KEY=VALUE]... [--host-timeout 3s] [--state-dir DIR] [--log-level L]
  node scripts/testbed.ts down --state-dir DIR | --stale
  node scripts/testbed.ts ls`;

function fail(message: string, code = 2): never {
  process.stderr.write(`error: ${message}\n${code === 2 ? USAGE + '\n' : ''}`);
  process.exit(code);
}

function int(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer (got "${text}")`);
  return n;
}

/** `--label 2:disk=ssd` (host 2 only) or `--label disk=ssd` (every host). */
function parseLabels(list: string[]): (i: number) => Record<string, string> {
  const rules: { host: number | undefined; key: string; value: string }[] = [];
  for (const l of list) {
    const m = /^(?:(\d+):)?([^=]+)=(.*)$/.exec(l);
    if (!m?.[2]) fail(`--label "${l}" is not [HOST:]KEY=VALUE`);
    rules.push({ host: m[1] === undefined ? undefined : Number(m[1]), key: m[2], value: m[3] ?? '' });
  }
  return (i) => {
    const out: Record<string, string> = {};
    for (const r of rules) if (r.host === undefined || r.host === i) out[r.key] = r.value;
    return out;
  };
}

function printReport(r: TeardownReport): void {
  process.stdout.write(
    `killed ${r.killed} process(es); deleted namespaces: ${r.netns.join(', ') || 'none'}; ` +
      `links: ${r.links.join(', ') || 'none'}; removed: ${r.removed.join(', ') || 'nothing'}\n`,
  );
}

async function up(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      hosts: { type: 'string' },
      racks: { type: 'string' },
      datacenters: { type: 'string' },
      region: { type: 'string' },
      label: { type: 'string', multiple: true, default: [] },
      'host-timeout': { type: 'string', default: '3s' },
      'state-dir': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
    },
  });
  if (values.hosts === undefined) fail('up needs --hosts N');
  const tb = await startTestbed({
    hosts: int(values.hosts, 'hosts', 1),
    racks: int(values.racks, 'racks', 1),
    datacenters: int(values.datacenters, 'datacenters', 1),
    labels: parseLabels(values.label),
    hostTimeout: values['host-timeout'],
    logLevel: values['log-level'],
    // The library tears down on SIGINT/SIGTERM/SIGHUP, also while the testbed is still starting.
    handleSignals: true,
    ...(values.region === undefined ? {} : { region: values.region }),
    ...(values['state-dir'] === undefined ? {} : { stateDir: values['state-dir'] }),
  });
  const out = process.stdout;
  out.write(`testbed up (slot ${tb.slot}: bridge ${tb.plan.bridge}, ${tb.plan.subnet})\n`);
  out.write(`server: ${tb.url}   (log ${tb.serverLog})\n`);
  out.write('hosts:\n');
  for (const h of tb.hosts) {
    const labels = Object.entries(h.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    out.write(`  ${h.id}  ${h.address}  netns ${h.ns}  agent pid ${h.pid ?? '-'}  ${labels}\n`);
  }
  out.write(
    `state: ${tb.stateDir}   (after a crash: node scripts/testbed.ts down --state-dir ${tb.stateDir})\n`,
  );
  out.write(`\nexport DABBA_ADDR=${tb.url}\n\nCtrl-C tears it down.\n`);
  // The children are unref'd: this timer is what keeps the process (and so the testbed) up.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  await new Promise<void>((resolveSignal) => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => resolveSignal());
  });
  clearInterval(keepAlive);
  await tb.stop();
  process.stderr.write('testbed down\n');
}

function down(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: { 'state-dir': { type: 'string' }, stale: { type: 'boolean' }, force: { type: 'boolean' } },
  });
  if (values.stale) {
    const slots = staleSlots();
    if (slots.length === 0) process.stdout.write('no stale testbed\n');
    for (const k of slots) {
      process.stdout.write(`slot ${k}: `);
      printReport(reclaim(k));
    }
    return;
  }
  const dir = values['state-dir'];
  if (dir === undefined) fail('down needs --state-dir DIR or --stale');
  const state = readState(dir);
  if (!state) fail(`${dir} has no testbed state (testbed.json)`, 1);
  if (isSameProcessAlive(state.owner.pid, state.owner.start) && !values.force) {
    fail(`the testbed's owner (pid ${state.owner.pid}) is running: stop it with Ctrl-C, or add --force`, 1);
  }
  printReport(teardownSlot(state.slot, state));
}

function ls(): void {
  for (let k = 0; k < SLOT_COUNT; k++) {
    const rec = readSlot(k);
    const plan = slotPlan(k);
    if (!rec) continue;
    const alive = isSameProcessAlive(rec.owner.pid, rec.owner.start);
    process.stdout.write(
      `slot ${k}  ${plan.bridge}  ${plan.subnet}  owner pid ${rec.owner.pid} ${alive ? 'running' : 'GONE (stale)'}  ${rec.stateDir}\n`,
    );
  }
}

const [cmd, ...rest] = process.argv.slice(2);
try {
  if (cmd === 'up') await up(rest);
  else if (cmd === 'down') down(rest);
  else if (cmd === 'ls') ls();
  else fail(cmd === undefined ? 'no command' : `unknown command "${cmd}"`);
} catch (e) {
  const code = (e as { code?: unknown }).code;
  const usage = typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
  fail(e instanceof Error ? e.message : String(e), usage ? 2 : 1);
}
