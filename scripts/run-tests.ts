/**
 * Runs every *.test.ts under src/ and test/, each file in a Node process of its own (Node's test
 * runner, spec reporter), several files at once, the longest first.
 *
 * Usage: node scripts/run-tests.ts [--write-durations] [substring-filter...]
 *
 * - Order: by each file's last measured wall time, longest first, so that the run does not end on a
 *   long file started late. The times come from `test/durations.json` (committed; rewritten with
 *   `--write-durations`) and, over it, this checkout's own last runs
 *   (`node_modules/.cache/dabba/test-durations.json`, written after every run). A file with no time
 *   yet (a new one) starts first.
 * - Concurrency: `DABBA_TEST_CONCURRENCY`, default 2 files per core (most files wait on real
 *   processes: containers, etcd, agents; see docs/testing.md "Suite time").
 * - Node's compile cache (NODE_COMPILE_CACHE) is on for every process the tests start.
 * - Output: each file's report is printed whole when it ends, with its time; then the totals, the
 *   failed files and the slowest files. Exit code 1 if any file failed, or if the run left a network
 *   namespace, a link or a Dabba nftables table behind (test-leftovers.ts).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join, resolve } from 'node:path';
import { leftBehind, machineObjects, removalCommand } from './test-leftovers.ts';

const SEED = 'test/durations.json';
const CACHE = 'node_modules/.cache/dabba/test-durations.json';
/**
 * Node's on-disk compile cache for every Node process of the run (test files, and the `dabba` CLI,
 * dev, servers and agents they start, which inherit the variable): a CLI start then takes about a
 * third of the CPU (type stripping and compiling done once per file version). NODE_COMPILE_CACHE
 * set by the caller wins; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
const COMPILE_CACHE = resolve('node_modules/.cache/dabba/compile');
const COUNTS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'] as const;
type Count = (typeof COUNTS)[number];

/**
 * Files run as several processes at once, one per pattern (Node's --test-name-pattern: the top-level
 * describe of that name, with its own cluster) plus one for the rest (--test-skip-pattern of them
 * all), so every test runs exactly once. For long files whose top-level blocks are independent.
 * A pattern that matches no test fails the run (a renamed block): fix it here.
 */
const SPLITS: Record<string, string[]> = {
  // The newcomer's first hour on each runtime, each on a `dabba dev` of its own: the longest file.
  'test/e2e/readme-commands.test.ts': ['on the oci runtime'],
  // One `dabba dev` per runtime in each.
  'test/e2e/exec-interactive.test.ts': ['dabba exec -it with containers'],
  'test/e2e/volumes.test.ts': ['volumes with containers'],
};

/** One process of the run: a file, or one part of a split file. */
interface Unit {
  /** The file, then ` [pattern]` or ` [rest]` for a part. */
  name: string;
  file: string;
  args: string[];
  /** A part that must run at least one test. */
  mustMatch: boolean;
}

interface UnitResult {
  name: string;
  seconds: number;
  code: number | null;
  signal: string | null;
  counts: Record<Count, number>;
}

function find(dir: string): string[] {
  let out: string[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out = out.concat(find(p));
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

function units(file: string): Unit[] {
  const patterns = SPLITS[file];
  if (patterns === undefined) return [{ name: file, file, args: [], mustMatch: false }];
  return [
    ...patterns.map((p) => ({
      name: `${file} [${p}]`,
      file,
      args: [`--test-name-pattern=${p}`],
      mustMatch: true,
    })),
    { name: `${file} [rest]`, file, args: patterns.map((p) => `--test-skip-pattern=${p}`), mustMatch: false },
  ];
}

function readDurations(path: string): Record<string, number> {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null) return {};
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'number') out[k] = v;
    return out;
  } catch {
    return {};
  }
}

function writeDurations(path: string, durations: Record<string, number>): void {
  const sorted: Record<string, number> = {};
  for (const k of Object.keys(durations).sort()) sorted[k] = Math.round((durations[k] ?? 0) * 10) / 10;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(sorted, null, 2) + '\n');
}

/** Longest first; units with no known time before all (they may be long); ties by name. */
function schedule(all: Unit[], durations: Record<string, number>): Unit[] {
  const key = (u: Unit): number => durations[u.name] ?? Number.POSITIVE_INFINITY;
  return [...all].sort((a, b) => key(b) - key(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The totals the spec reporter prints at the end of a file ("ℹ pass 12"). */
function parseCounts(output: string): Record<Count, number> {
  const counts = Object.fromEntries(COUNTS.map((c) => [c, 0])) as Record<Count, number>;
  for (const c of COUNTS) {
    const m = new RegExp(`^ℹ ${c} (\\d+)$`, 'm').exec(output);
    if (m?.[1] !== undefined) counts[c] = Number(m[1]);
  }
  return counts;
}

const running = new Map<string, { started: number; kill: (signal: NodeJS.Signals) => void }>();

function runUnit(unit: Unit): Promise<UnitResult> {
  const name = unit.name;
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--test-reporter=spec', ...unit.args, unit.file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { DABBA_LOG_LEVEL: 'silent', NODE_COMPILE_CACHE: COMPILE_CACHE, ...process.env },
    });
    running.set(name, { started, kill: (s) => child.kill(s) });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    const finish = (exit: number | null, signal: string | null, extra = ''): void => {
      running.delete(name);
      const seconds = (performance.now() - started) / 1000;
      let output = Buffer.concat(chunks).toString() + extra;
      const counts = parseCounts(output);
      let code = exit;
      if (code === 0 && unit.mustMatch && counts.tests === 0) {
        code = 1;
        output += `${unit.args.join(' ')} matched no test: fix SPLITS in scripts/run-tests.ts\n`;
      }
      const failed = code !== 0 ? ' FAILED' : '';
      process.stdout.write(`\n▶ ${name} (${seconds.toFixed(1)} s)${failed}\n${output}`);
      resolve({ name, seconds, code, signal, counts });
    };
    child.on('error', (e) => finish(1, null, `could not start: ${e.message}\n`));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

async function runAll(all: Unit[], concurrency: number): Promise<UnitResult[]> {
  const queue = [...all];
  const results: UnitResult[] = [];
  const worker = async (): Promise<void> => {
    for (let u = queue.shift(); u !== undefined; u = queue.shift()) results.push(await runUnit(u));
  };
  // Now and then, which files are still running and for how long (a hung file shows itself).
  const progress = setInterval(() => {
    const now = performance.now();
    const list = [...running].map(([f, r]) => `${f} (${Math.round((now - r.started) / 1000)} s)`);
    process.stdout.write(`\n… ${results.length}/${all.length} done; running: ${list.join(', ')}\n`);
  }, 120_000);
  progress.unref();
  await Promise.all(Array.from({ length: Math.min(concurrency, all.length) }, worker));
  clearInterval(progress);
  return results;
}

function report(results: UnitResult[], wallSeconds: number, concurrency: number): boolean {
  const total = Object.fromEntries(COUNTS.map((c) => [c, 0])) as Record<Count, number>;
  for (const r of results) for (const c of COUNTS) total[c] += r.counts[c];
  const failed = results.filter((r) => r.code !== 0);
  const busy = results.reduce((s, r) => s + r.seconds, 0);
  const lines = [
    '',
    `━━ ${results.length} files (or parts), ${concurrency} at a time: ${wallSeconds.toFixed(1)} s wall, ${busy.toFixed(1)} s of file time`,
    COUNTS.map((c) => `${c} ${total[c]}`).join(', '),
    'slowest files:',
    ...[...results]
      .sort((a, b) => b.seconds - a.seconds)
      .slice(0, 15)
      .map((r) => `  ${r.seconds.toFixed(1).padStart(6)} s  ${r.name}`),
  ];
  if (failed.length > 0) {
    lines.push(`FAILED (${failed.length}):`);
    for (const r of failed)
      lines.push(`  ${r.name} (${r.signal ?? `exit ${r.code}`}, ${r.counts.fail} failed tests)`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  return failed.length === 0;
}

/**
 * Whether the run left no namespace, link or Dabba nftables table behind (test-leftovers.ts); a
 * second look after 2 s, for a teardown still finishing. Prints what is left and how to remove it
 * (and passes anyway with DABBA_TEST_LEFTOVERS=report).
 */
async function clean(before: readonly string[]): Promise<boolean> {
  if (leftBehind(before, machineObjects()).length === 0) return true;
  await sleep(2000);
  const left = leftBehind(before, machineObjects());
  if (left.length === 0) return true;
  process.stdout.write(
    [
      `LEFT BEHIND by the run (${left.length}; not there before it: a test's cleanup missed them):`,
      ...left.map((o) => `  ${o}    (${removalCommand(o)})`),
      '',
    ].join('\n'),
  );
  return process.env['DABBA_TEST_LEFTOVERS'] === 'report';
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const writeSeed = args.includes('--write-durations');
  const filters = args.filter((a) => a !== '--write-durations');
  const files = [...find('src'), ...find('test')].filter(
    (f) => filters.length === 0 || filters.some((x) => f.includes(x)),
  );
  if (files.length === 0) {
    console.error('no test files matched');
    process.exit(1);
  }
  const known = { ...readDurations(SEED), ...readDurations(CACHE) };
  const concurrency = Number(
    process.env['DABBA_TEST_CONCURRENCY'] ?? Math.max(2, availableParallelism() * 2),
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      for (const r of running.values()) r.kill(signal);
      process.exitCode = 1;
    });
  const before = machineObjects();
  const started = performance.now();
  const results = await runAll(schedule(files.flatMap(units), known), concurrency);
  const passed = report(results, (performance.now() - started) / 1000, concurrency);
  const ok = (await clean(before)) && passed;
  const measured = Object.fromEntries(results.map((r) => [r.name, r.seconds]));
  const existing = new Set([...find('src'), ...find('test')].flatMap((f) => units(f).map((u) => u.name)));
  const keep = (d: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.entries({ ...d, ...measured }).filter(([f]) => existing.has(f)));
  writeDurations(CACHE, keep(readDurations(CACHE)));
  if (writeSeed) writeDurations(SEED, keep(readDurations(SEED)));
  process.exit(ok && process.exitCode !== 1 ? 0 : 1);
}

await main();
