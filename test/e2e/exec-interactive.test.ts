/**
 * `dabba exec -i` and `-it` end to end on `dabba dev`, with containers and with the process runtime:
 * the CLI runs on a real pseudo-terminal (util-linux `script` gives it one, as a user's terminal
 * would), types into a remote `sh`, and sees the answers, a pty name from `tty`, the remote exit
 * code as its own, Ctrl-C interrupting a remote `sleep` while the shell carries on, and its own
 * terminal settings restored afterwards; `-i` alone pipes stdin to a remote `cat`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobView } from '../../src/model/index.ts';
import { DevCluster, REPO, waitFor } from '../helpers/dev-cluster.ts';
import { destroyOciDev, ociForTests, startOciDev } from '../helpers/oci-dev.ts';

const DABBA = join(REPO, 'src', 'bin', 'dabba.ts');
const { skip: skipOci } = await ociForTests();

/** Terminal output without its control sequences (cursor queries, line clears). */
const CSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');
const plain = (s: string): string => s.replace(CSI, '');

/** How long the terminal must have been quiet before a step types (the shell waits for input). */
const QUIET_MS = 200;

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `line` (a shell command line) on a pseudo-terminal of its own, as typed in a terminal: `steps`
 * types into it once the output matches what each waits for. Resolves with the output and exit code.
 */
/** The CLI as the user who ran `dabba dev`: its address and the credentials dev stored. */
function cliEnv(c: DevCluster): Record<string, string> {
  return { DABBA_ADDR: c.url, XDG_CONFIG_HOME: c.configHome, DABBA_TOKEN: '' };
}

async function onTerminal(
  line: string,
  env: Record<string, string>,
  steps: { after: RegExp; type: string; pauseMs?: number; resendEveryMs?: number }[],
  /** More to say when a step times out (the cluster's log). */
  diagnostics: () => string = () => '',
): Promise<{ code: number; out: string; ms: number }> {
  const child = spawn('script', ['-q', '-e', '-f', '-c', line, '/dev/null'], {
    env: { ...process.env, DABBA_LOG_LEVEL: 'warn', SHELL: '/bin/sh', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let answered = 0;
  let lastOutput = Date.now();
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    lastOutput = Date.now();
    // Answer as a terminal does when asked where the cursor is (busybox ash asks after its prompt),
    // once per query, also when a query was split between two reads.
    for (const asked = out.split('\u001b[6n').length - 1; answered < asked; answered++)
      child.stdin.write('\u001b[1;5R');
  });
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<number>((resolve) =>
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))),
  );
  const t0 = Date.now();
  try {
    let from = 0;
    let resend: NodeJS.Timeout | undefined;
    for (const step of steps) {
      const seen = (): boolean => step.after.test(plain(out.slice(from)));
      await waitFor(String(step.after), seen, 20_000, 50)
        .catch((e: unknown) => {
          throw new Error(`${String(e)}; the output was:\n${out}\n${diagnostics().slice(-8000)}`);
        })
        .finally(() => clearInterval(resend));
      from = out.length;
      await new Promise((r) => setTimeout(r, step.pauseMs ?? 100));
      // Typed once the terminal has been quiet a moment: the shell has finished writing its prompt
      // (and its cursor query) and waits for input.
      while (Date.now() - lastOutput < QUIET_MS) await new Promise((r) => setTimeout(r, 50));
      child.stdin.write(step.type);
      // Typed again until the next step's answer shows (a keystroke that reached the shell before
      // the command it was meant for had started is not lost for good).
      if (step.resendEveryMs !== undefined)
        resend = setInterval(() => child.stdin.write(step.type), step.resendEveryMs);
    }
    clearInterval(resend);
    const code = await exited;
    return { code, out, ms: Date.now() - t0 };
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
}

function scenarios(name: string, start: () => Promise<{ c: DevCluster; task: string }>): void {
  let c: DevCluster;
  let task = '';
  before(async () => {
    ({ c, task } = await start());
  });

  test(`${name}: -it sh answers, tty names a pty, the exit code is the CLI's, the terminal is restored`, async () => {
    const exec = `node_modules/.bin/node ${quote(DABBA)} exec -it ${task} -- sh`;
    // stty -g before and after: the CLI's raw mode is undone when it ends.
    const r = await onTerminal(`cd ${quote(REPO)}; stty -g; ${exec}; rc=$?; stty -g; exit $rc`, cliEnv(c), [
      { after: /[#$] $/, type: 'echo "=$((6*7))="; tty; exit 3\r' },
    ]);
    assert.equal(r.code, 3, r.out);
    assert.match(r.out, /=42=/);
    assert.match(r.out, /^\/dev\/pts\/\d+\r?$/m, 'tty answers with a pty');
    const modes = r.out.split(/\r?\n/).filter((l) => /^[0-9a-f]+(:[0-9a-f]+){10,}$/.test(l.trim()));
    assert.equal(modes.length, 2, r.out);
    assert.equal(modes[0], modes[1], 'the terminal settings are as they were before');
  });

  test(`${name}: Ctrl-C in raw mode reaches the remote command, and the shell carries on`, async () => {
    const exec = `node_modules/.bin/node ${quote(DABBA)} exec -it ${task} -- sh`;
    const r = await onTerminal(
      `cd ${quote(REPO)}; exec ${exec}`,
      cliEnv(c),
      [
        { after: /[#$] $/, type: 'sleep 100\r' },
        // Ctrl-C once the command line is echoed; again every 3 s until the prompt is back, in case
        // the first one reached the shell before `sleep` was running (a loaded machine).
        { after: /sleep 100/, type: '\u0003', pauseMs: 700, resendEveryMs: 3000 },
        { after: /[#$] $/, type: 'echo "after-$((1+1))"; exit 0\r' },
      ],
      () => `the cluster's log:\n${c.log}`,
    );
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /after-2/);
    assert.ok(r.ms < 30_000, `the sleep was interrupted (took ${r.ms} ms)`);
  });

  test(`${name}: -i pipes stdin (echo hello | dabba exec -i T -- cat)`, async () => {
    const child = spawn(process.execPath, [DABBA, 'exec', '-i', task, '--', 'cat'], {
      env: { ...process.env, ...cliEnv(c), DABBA_LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdin.end('hello\n');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(killer);
    assert.deepEqual([code, stdout], [0, 'hello\n'], stderr);
    const r = await c.cli(['exec', '-it', task, '--', 'true']);
    assert.equal(r.code, 2, 'with -it, input that is no terminal is refused');
    assert.match(r.stderr, /not a terminal/);
  });
}

describe('dabba exec -it with containers', { skip: skipOci }, () => {
  let c: DevCluster | undefined;
  let network = '';
  after(async () => {
    if (c) await destroyOciDev(c, network);
  });
  scenarios('oci', async () => {
    const started = await startOciDev();
    ({ c, network } = started);
    return { c: started.c, task: await deploy(started.c, 'image: busybox\n  command: ["sleep", "100000"]') };
  });
});

describe('dabba exec -it with the process runtime', () => {
  let c: DevCluster | undefined;
  after(async () => c?.destroy());
  scenarios('process', async () => {
    c = await DevCluster.start({ driver: 'process' });
    return { c, task: await deploy(c, 'command: ["sleep", "100000"]') };
  });
});

async function deploy(c: DevCluster, command: string): Promise<string> {
  const file = join(c.dataDir, 'shell.yaml');
  await writeFile(
    file,
    `name: shell\nreplicas: 1\ntask:\n  ${command}\n  resources: { cpu: 0.1, memory: 32Mi, pids: 32 }\n  stopGracePeriod: 1s\n`,
  );
  const d = await c.cli(['deploy', file]);
  assert.equal(d.code, 0, d.stdout + d.stderr);
  const s = await c.cli(['status', 'shell', '--json']);
  const task = (JSON.parse(s.stdout) as JobView).tasks.find((t) => t.state === 'running');
  assert.ok(task, s.stdout);
  return task.id;
}
