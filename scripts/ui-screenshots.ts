/**
 * Regenerates the screenshots in docs/ui/ (shown in docs/ui.md): a real `dabba dev` (process
 * runtime) with a small job, a job that cannot be placed and a few time series, photographed in a
 * headless Chromium at 1280x800 (light and dark) and at phone width. Everything it starts is
 * stopped at the end, even on failure.
 *
 *   node scripts/ui-screenshots.ts
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { JobView } from '../src/model/index.ts';
import { jobBoard } from '../web/src/pages/board-defaults.ts';
import { launchBrowser } from '../test/helpers/browser.ts';
import { DevCluster, REPO, waitFor } from '../test/helpers/dev-cluster.ts';

const OUT = join(REPO, 'docs', 'ui');

const JOB = `name: web
replicas: 3
task:
  command: ["sh", "-c", "i=0; while true; do echo \\"GET /item/$i 200 $((i % 7))ms\\"; i=$((i+1)); sleep 0.5; done"]
  resources: { cpu: 0.1, memory: 32Mi, pids: 16 }
  stopGracePeriod: 1s
update: { maxUnavailable: 1, maxSurge: 1, minHealthy: 1s, deadline: 1m }
`;

async function seedMetrics(c: DevCluster): Promise<void> {
  const step = 10_000;
  const first = Math.floor((Date.now() - 58 * 60_000) / step) * step;
  const wave = (phase: number, amp: number) => (i: number) =>
    Math.round(amp * Math.sin(i / 20 + phase) + amp * 0.3 * Math.sin(i / 3 + phase * 2));
  const series = ['a', 'b', 'c', 'd', 'e', 'f'].map((task, k) => ({
    name: 'requests_delta',
    labels: { namespace: 'default', task: `web-${task}` },
    kind: 'gauge',
    samples: Array.from({ length: 348 }, (_, i) => [first + i * step + 500, wave(k, 100 + k * 40)(i)]),
  }));
  const r = await c.api('POST', '/v1/metrics/ingest', { host: 'vm', seq: 1, series });
  if (r.status !== 200) throw new Error(`ingest: ${JSON.stringify(r.body)}`);
}

/** A job's request counters (per task, with a few 5xx) and latency buckets, for its default board. */
async function seedRequests(c: DevCluster, tasks: string[]): Promise<void> {
  const step = 10_000;
  const first = Math.floor((Date.now() - 58 * 60_000) / step) * step;
  const n = 348;
  const cumulative = (f: (i: number) => number): [number, number][] => {
    let total = 0;
    return Array.from({ length: n }, (_, i) => {
      total += Math.max(0, Math.round(f(i)));
      return [first + i * step + 500, total];
    });
  };
  const series = tasks.flatMap((task, k) => {
    const labels = { namespace: 'default', job: 'web', task };
    const load = (i: number): number => 40 + 25 * Math.sin(i / 25 + k) + 10 * Math.sin(i / 4 + k * 2);
    const slow = (i: number): number => (i > 200 && i < 240 ? 0.5 : 0.9);
    return [
      {
        name: 'http_requests_total',
        labels: { ...labels, code: '200' },
        kind: 'counter',
        samples: cumulative(load),
      },
      {
        name: 'http_requests_total',
        labels: { ...labels, code: '503' },
        kind: 'counter',
        samples: cumulative((i) => (i > 200 && i < 240 ? 6 : i % 37 === 0 ? 1 : 0)),
      },
      ...(
        [
          ['0.05', (i: number) => load(i) * slow(i) * 0.7],
          ['0.25', (i: number) => load(i) * slow(i)],
          ['1', (i: number) => load(i) * 0.99],
          ['+Inf', (i: number) => load(i)],
        ] as const
      ).map(([le, f]) => ({
        name: 'http_request_duration_seconds_bucket',
        labels: { ...labels, le },
        kind: 'counter',
        samples: cumulative(f),
      })),
    ];
  });
  const r = await c.api('POST', '/v1/metrics/ingest', { host: 'vm', seq: 2, series });
  if (r.status !== 200) throw new Error(`ingest: ${JSON.stringify(r.body)}`);
}

/** A service's request rows over the last hour, for the log-table page. */
async function seedRows(c: DevCluster): Promise<void> {
  const routes = ['/item', '/cart', '/search', '/login'];
  const now = Date.now();
  const rows = Array.from({ length: 3000 }, (_, i) => {
    const route = routes[i % 4] ?? '/item';
    const t = now - 3_600_000 + Math.floor((i * 3_600_000) / 3000);
    const busy = Math.sin(i / 300) > 0.6;
    return {
      time: t,
      route,
      status: busy && i % 5 === 0 ? 503 : 200,
      latencyMs: Math.round((busy ? 120 : 20) + (i % 13) * (route === '/search' ? 9 : 3)),
    };
  });
  const r = await c.api('POST', '/v1/tables/requests/rows', { rows });
  if (r.status >= 300) throw new Error(`rows: ${JSON.stringify(r.body)}`);
}

/**
 * A saved board of the seeded series, what a team's own board looks like: the forecast's panel,
 * then the job's default board's requests, errors and latency (web/src/pages/board-defaults.ts).
 */
async function saveBoard(c: DevCluster): Promise<void> {
  const r = await c.api('PUT', '/v1/boards/services', {
    title: 'Services',
    panels: [
      { title: 'Requests vs forecast', query: { name: 'requests_delta', by: ['task'] } },
      ...jobBoard('web', 'default').panels.slice(0, 3),
    ],
  });
  if (r.status !== 200) throw new Error(`board: ${JSON.stringify(r.body)}`);
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(OUT, `${name}.png`) });
  process.stdout.write(`docs/ui/${name}.png\n`);
}

const c = await DevCluster.start();
const b = await launchBrowser().catch(async (e: unknown) => {
  await c.destroy();
  throw e;
});
try {
  await mkdir(OUT, { recursive: true });
  await writeFile(join(c.dataDir, 'web.yaml'), JOB);
  await writeFile(
    join(c.dataDir, 'big.yaml'),
    'name: batch-huge\nreplicas: 2\ntask:\n  command: ["sleep", "60"]\n  resources: { cpu: 512, memory: 32Mi }\n',
  );
  const d = await c.cli(['deploy', join(c.dataDir, 'web.yaml')]);
  if (d.code !== 0) throw new Error(d.stderr);
  await c.cli(['deploy', join(c.dataDir, 'big.yaml'), '--detach']);
  await c.cli(['scale', 'web', '4']);
  await seedMetrics(c);
  const token = await c.adminToken();
  const view = (await c.api('GET', '/v1/jobs/web')).body as JobView;
  const task = view.tasks.find((t) => t.state === 'running')?.id ?? '';
  await seedRequests(
    c,
    view.tasks.filter((t) => t.state === 'running').map((t) => t.id),
  );
  await seedRows(c);
  await saveBoard(c);
  const host = ((await c.api('GET', '/v1/hosts')).body as { id: string }[])[0]?.id ?? '';
  const mesh = await c.cli([
    'mesh',
    'apply',
    join(REPO, 'examples', 'mesh', 'deps.yaml'),
    '-m',
    'front calls back',
  ]);
  if (mesh.code !== 0) throw new Error(mesh.stderr);
  for (const [i, body] of [
    [1, '{\n  "port": 8080,\n  "greeting": "hello",\n  "workers": 4\n}\n'],
    [2, '{\n  "port": 8080,\n  "greeting": "hello, world",\n  "workers": 8\n}\n'],
  ] as const) {
    await writeFile(join(c.dataDir, `settings-${i}.json`), body);
    const r = await c.cli([
      'config',
      'put',
      'web/settings.json',
      join(c.dataDir, `settings-${i}.json`),
      '--message',
      `v${i}`,
    ]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  const pages: [string, string][] = [
    ['overview', '#/'],
    ['jobs', '#/jobs'],
    ['job', '#/jobs/web'],
    ['job-unplaced', '#/jobs/batch-huge'],
    ['task', `#/jobs/web/tasks/${task}`],
    ['hosts', '#/hosts'],
    ['host', `#/hosts/${host}`],
    ['board-job', '#/dashboards/job.web'],
    ['mesh', '#/mesh'],
    ['configs', '#/configs'],
    ['config', '#/configs/web%2Fsettings.json'],
    ['tables', '#/tables?table=requests&by=route&agg=p99%28latency_ms%29&agg=count&since=1h&bucket=5m'],
  ];
  for (const [theme, size] of [
    ['light', { width: 1280, height: 800 }],
    ['dark', { width: 1280, height: 800 }],
  ] as const) {
    const page = await b.page(size);
    await page.emulateMedia({ colorScheme: theme });
    await page.goto(`${c.url}/ui/#token=${token}`);
    await page.getByTestId('identity').waitFor({ timeout: 60_000 });
    for (const [name, hash] of pages) {
      if (theme === 'dark' && name !== 'overview' && name !== 'job' && name !== 'board-job') continue;
      await page.goto(`${c.url}/ui/${hash}`);
      await shoot(page, theme === 'light' ? name : `${name}-dark`);
    }
    if (theme === 'light') {
      await page.goto(`${c.url}/ui/#/dashboards/services`);
      const chart = page.locator('[data-chart^="Requests"]').first();
      await chart.waitFor({ timeout: 60_000 });
      const box = await chart.locator('canvas').boundingBox();
      if (box) await page.mouse.move(box.x + 200, box.y + 10);
      await shoot(page, 'dashboards');
      await page.goto(`${c.url}/ui/#/jobs/web`);
      await page.getByLabel('Replicas').fill('6');
      await page.getByRole('button', { name: 'Scale' }).click();
      await page.getByRole('dialog').getByTestId('plan').waitFor({ timeout: 60_000 });
      await shoot(page, 'confirm-scale');
    }
    await page.context().close();
  }
  const phone = await b.page({ width: 390, height: 844 });
  await phone.goto(`${c.url}/ui/#token=${token}`);
  await waitFor('the overview', async () => (await phone.getByTestId('job-count').count()) > 0, 60_000);
  await shoot(phone, 'overview-phone');
} finally {
  await b.close();
  await c.destroy();
}
