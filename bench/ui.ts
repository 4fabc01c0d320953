/**
 * Web UI budgets, measured in a real headless Chromium: `node bench/ui.ts [JOBS] [REPLICAS]`.
 *
 *  - JS shipped: the built bundle (scripts/build-ui.ts), gzipped; budget 200 KB.
 *  - Horizon charts (web/src/components/horizon.ts, bundled alone into a blank page): 50 charts of
 *    24 h at 1-minute steps (1,440 pixels each) drawn from scratch, budget 500 ms; one new point
 *    appended to all 50 (shift and draw one column), budget 16 ms (median of 60 appends).
 *  - First load of the overview with JOBS jobs (default 1,000) of REPLICAS tasks (default 10) in the
 *    store of a real `dabba dev` (tasks that fit nowhere: stored and explained, nothing started):
 *    from navigation to the job count shown, budget 1 s.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { buildUi } from '../scripts/build-ui.ts';
import { launchBrowser, type TestBrowser } from '../test/helpers/browser.ts';
import { DevCluster, REPO, waitFor } from '../test/helpers/dev-cluster.ts';
import { table } from './report.ts';

const JOBS = Number(process.argv[2] ?? 1000);
const REPLICAS = Number(process.argv[3] ?? 10);

/** Runs in the page: draws 50 charts, then appends; returns the times (ms). */
function horizonInPage(): { render: number; appends: number[] } {
  const g = globalThis as unknown as {
    Horizon: {
      HorizonChart: new (
        c: unknown,
        o: { bands: number; bandHeight: number },
      ) => { setData(s: unknown): void; append(v: number): void };
    };
    document: { createElement(t: 'canvas'): unknown; body: { append(c: unknown): void } };
    performance: { now(): number };
  };
  const charts = [];
  const data: { start: number; step: number; values: number[] }[] = [];
  for (let i = 0; i < 50; i++) {
    let v = 0;
    const values = Array.from({ length: 1440 }, () => (v += Math.random() * 10 - 5));
    data.push({ start: 0, step: 60_000, values });
  }
  const t0 = g.performance.now();
  for (let i = 0; i < 50; i++) {
    const canvas = g.document.createElement('canvas');
    g.document.body.append(canvas);
    const chart = new g.Horizon.HorizonChart(canvas, { bands: 4, bandHeight: 30 });
    chart.setData(data[i]);
    charts.push(chart);
  }
  const render = g.performance.now() - t0;
  const appends: number[] = [];
  for (let r = 0; r < 60; r++) {
    const a0 = g.performance.now();
    for (const c of charts) c.append(Math.random() * 20 - 10);
    appends.push(g.performance.now() - a0);
  }
  return { render, appends };
}

async function horizon(b: TestBrowser): Promise<{ render: number; append: number }> {
  const out = await build({
    entryPoints: [join(REPO, 'web', 'src', 'components', 'horizon.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'Horizon',
    write: false,
    minify: true,
  });
  const page = await b.page();
  await page.setContent('<!doctype html><body></body>');
  await page.addScriptTag({ content: out.outputFiles[0]?.text ?? '' });
  // A second canvas round warms up the JIT and the canvas path; the second run is the one measured.
  await page.evaluate(horizonInPage);
  await page.setContent('<!doctype html><body></body>');
  await page.addScriptTag({ content: out.outputFiles[0]?.text ?? '' });
  const r = await page.evaluate(horizonInPage);
  await page.context().close();
  const sorted = [...r.appends].sort((x, y) => x - y);
  return { render: r.render, append: sorted[Math.floor(sorted.length / 2)] ?? NaN };
}

async function firstLoad(b: TestBrowser): Promise<{ ms: number; tasks: number }> {
  const c = await DevCluster.start();
  try {
    const file = (i: number): string =>
      JSON.stringify({
        name: `bench-${i}`,
        replicas: REPLICAS,
        task: { command: ['sleep', '60'], resources: { cpu: 512, memory: '16Mi' } },
      });
    for (let i = 0; i < JOBS; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, JOBS - i) }, (_, k) =>
          c.api('PUT', `/v1/jobs/bench-${i + k}`, file(i + k)).then((r) => {
            if (r.status >= 300) throw new Error(JSON.stringify(r.body));
          }),
        ),
      );
    }
    let tasks = 0;
    await waitFor(
      'every task stored',
      async () => {
        const r = await c.api('GET', `/v1/jobs/bench-${JOBS - 1}/tasks`);
        tasks = Array.isArray(r.body) ? r.body.length : 0;
        return tasks === REPLICAS;
      },
      300_000,
      1000,
    );
    const token = await c.adminToken();
    const times: number[] = [];
    for (let run = 0; run < 3; run++) {
      const page = await b.page();
      await page.goto(`${c.url}/ui/#token=${token}`);
      await page.waitForFunction(
        (n) =>
          (
            globalThis as unknown as {
              document: { querySelector(s: string): { textContent: string } | null };
            }
          ).document.querySelector('[data-testid="job-count"]')?.textContent === String(n),
        JOBS,
        { timeout: 60_000, polling: 'raf' },
      );
      times.push(
        await page.evaluate(() =>
          (globalThis as unknown as { performance: { now(): number } }).performance.now(),
        ),
      );
      await page.context().close();
    }
    return { ms: [...times].sort((x, y) => x - y)[1] ?? NaN, tasks: JOBS * REPLICAS };
  } finally {
    await c.destroy();
  }
}

const built = await buildUi();
const dist = join(REPO, 'web', 'dist');
let jsGzip = 0;
for (const f of await readdir(dist))
  if (f.endsWith('.js')) jsGzip += gzipSync(await readFile(join(dist, f))).length;
const b = await launchBrowser();
try {
  const h = await horizon(b);
  const load = await firstLoad(b);
  const rows: (string | number)[][] = [
    ['JS shipped (gzip)', `${(jsGzip / 1024).toFixed(1)} KB`, '200 KB', jsGzip < 200 * 1024 ? 'ok' : 'OVER'],
    [
      '50 horizon charts, 1,440 px each: draw',
      `${h.render.toFixed(1)} ms`,
      '500 ms',
      h.render < 500 ? 'ok' : 'OVER',
    ],
    [
      'append one point to all 50 (median)',
      `${h.append.toFixed(2)} ms`,
      '16 ms',
      h.append < 16 ? 'ok' : 'OVER',
    ],
    [
      `overview first load, ${JOBS} jobs / ${load.tasks} tasks (median of 3)`,
      `${load.ms.toFixed(0)} ms`,
      '1000 ms',
      load.ms < 1000 ? 'ok' : 'OVER',
    ],
  ];
  table(`web UI (${built.js})`, ['what', 'measured', 'budget', ''], rows);
  if (process.env['BENCH_OUT'] !== undefined) await writeFile(process.env['BENCH_OUT'], JSON.stringify(rows));
} finally {
  await b.close();
}
