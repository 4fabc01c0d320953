/**
 * A real Prometheus (Debian's package, /usr/bin/prometheus) for a test: a generated config, a temp
 * dir for its storage, a free loopback port; `close()` kills it and deletes the dir, even when the
 * start failed half way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ScrapeJob {
  name: string;
  /** host:port */
  target: string;
  path: string;
  token: string;
  params?: Record<string, string[]>;
  /** Federation: keep the scraped series' own labels and timestamps. */
  federate?: boolean;
}

export interface TestPrometheus {
  url: string;
  /** GET /api/v1/query (instant query at `time`, seconds, default now): the result vector or matrix. */
  query(promql: string, time?: number): Promise<PromSample[]>;
  close(): Promise<void>;
}

export interface PromSample {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const a = s.address();
  await new Promise((r) => s.close(r));
  if (a === null || typeof a === 'string') throw new Error('no free port');
  return a.port;
}

function config(jobs: readonly ScrapeJob[]): string {
  const lines = ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:'];
  for (const j of jobs) {
    lines.push(
      `  - job_name: ${JSON.stringify(j.name)}`,
      `    metrics_path: ${JSON.stringify(j.path)}`,
      `    authorization: { credentials: ${JSON.stringify(j.token)} }`,
      ...(j.federate ? ['    honor_labels: true', '    honor_timestamps: true'] : []),
      ...(j.params
        ? [
            '    params:',
            ...Object.entries(j.params).map(([k, v]) => `      ${JSON.stringify(k)}: ${JSON.stringify(v)}`),
          ]
        : []),
      `    static_configs: [{ targets: [${JSON.stringify(j.target)}] }]`,
    );
  }
  return lines.join('\n') + '\n';
}

export async function startPrometheus(jobs: readonly ScrapeJob[]): Promise<TestPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-prometheus-'));
  let child: ChildProcess | undefined;
  const stderr: string[] = [];
  const close = async (): Promise<void> => {
    try {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    await writeFile(join(dir, 'prometheus.yml'), config(jobs));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    child = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${stderr.join('')}`);
      const ok = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`prometheus not ready after 60 s: ${stderr.join('')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return {
      url,
      async query(promql, time) {
        const p = new URLSearchParams({ query: promql });
        if (time !== undefined) p.set('time', String(time));
        const res = await fetch(`${url}/api/v1/query?${p.toString()}`);
        const body = (await res.json()) as {
          status: string;
          error?: string;
          data?: { result: PromSample[] };
        };
        if (body.status !== 'success')
          throw new Error(`prometheus query ${promql}: ${body.error ?? res.status}`);
        return body.data?.result ?? [];
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
