/**
 * The web UI's later pages in a real headless Chromium against a real `dabba dev` (process runtime):
 * a job's default dashboard (request rate, a p99 computed from histogram buckets) edited and saved
 * to the control plane; the host page (tasks, history at a moment, cordon asking first); the mesh's
 * service graph; the config pages (history, diff, revert asking first); the log-table query
 * builder's table and chart. A viewer token sees every page with no button that writes.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { Board, ConfigVersion, HostView, JobView } from '../../src/model/index.ts';
import { launchBrowser, type TestBrowser } from '../helpers/browser.ts';
import { DevCluster, REPO, waitFor } from '../helpers/dev-cluster.ts';

const WAIT = 60_000;

const JOB = `name: web
replicas: 2
task:
  command: ["sh", "-c", "while true; do echo serving; sleep 1; done"]
  resources: { cpu: 0.1, memory: 32Mi, pids: 16 }
  stopGracePeriod: 1s
update: { maxUnavailable: 1, maxSurge: 1, minHealthy: 1s, deadline: 1m }
`;

/** 50 minutes of a job's request counters at 10 s: per sample +10 requests, and latency buckets
 * growing by 5, 9, 10, 10 (so per step: half under 0.1 s, 90% under 0.5 s, all under 1 s: p99 0.95 s). */
function requestSeries(): unknown[] {
  const step = 10_000;
  const first = Math.floor((Date.now() - 50 * 60_000) / step) * step;
  const labels = { namespace: 'default', job: 'web', task: 'web-aaaaa' };
  const counter = (name: string, extra: Record<string, string>, per: number) => ({
    name,
    labels: { ...labels, ...extra },
    kind: 'counter',
    samples: Array.from({ length: 300 }, (_, i) => [first + i * step + 1000, i * per]),
  });
  return [
    counter('http_requests_total', { code: '200' }, 10),
    counter('http_request_duration_seconds_bucket', { le: '0.1' }, 5),
    counter('http_request_duration_seconds_bucket', { le: '0.5' }, 9),
    counter('http_request_duration_seconds_bucket', { le: '1' }, 10),
    counter('http_request_duration_seconds_bucket', { le: '+Inf' }, 10),
  ];
}

describe('web UI pages in Chromium against dabba dev', () => {
  let c: DevCluster;
  let b: TestBrowser;
  let admin: string;
  let viewer: string;
  let host: string;

  before(async () => {
    c = await DevCluster.start();
    admin = await c.adminToken();
    const t = await c.cli(['token', 'create', 'pages-viewer', '--role', 'viewer', '--namespace', 'default']);
    assert.equal(t.code, 0, t.stderr);
    viewer = t.stdout.trim();
    await writeFile(join(c.dataDir, 'web.yaml'), JOB);
    const d = await c.cli(['deploy', join(c.dataDir, 'web.yaml')]);
    assert.equal(d.code, 0, d.stderr);
    const hosts = (await c.api('GET', '/v1/hosts')).body as HostView[];
    host = hosts[0]?.id ?? '';
    b = await launchBrowser();
  });
  after(async () => {
    await b?.close();
    await c?.destroy();
  });

  async function signedIn(hash: string, token = admin): Promise<Page> {
    const page = await b.page();
    await page.goto(`${c.url}/ui/#token=${encodeURIComponent(token)}`);
    await page.getByTestId('identity').waitFor({ timeout: WAIT });
    await page.goto(`${c.url}/ui/${hash}`);
    return page;
  }

  async function noWriteButtons(page: Page, names: string[]): Promise<void> {
    for (const name of names)
      assert.equal(await page.getByRole('button', { name }).count(), 0, `a viewer sees ${name}`);
  }

  test("a job's default board: request rate and a p99 from buckets; edited, saved, seen by a viewer", async () => {
    const ingest = await c.api('POST', '/v1/metrics/ingest', { host: 'vm', seq: 1, series: requestSeries() });
    assert.equal(ingest.status, 200, JSON.stringify(ingest.body));
    const page = await signedIn('#/jobs/web');
    await page.getByRole('link', { name: 'Dashboard', exact: true }).click();
    await page.getByRole('heading', { name: 'Job web' }).waitFor({ timeout: WAIT });
    const p99 = page.locator('[data-chart^="Latency p99 (s) "]');
    await p99.waitFor({ timeout: WAIT });
    await page.locator('[data-chart^="Requests/s "]').waitFor({ timeout: WAIT });
    assert.match(await page.getByTestId('board-state').innerText(), /default board/);
    const box = await p99.locator('canvas').boundingBox();
    assert.ok(box);
    await page.mouse.move(box.x + box.width / 2, box.y + 15);
    await waitFor(
      'the p99 under the cursor',
      async () => (await p99.getByTestId('cursor-value').innerText()) === '0.95',
      WAIT,
    );

    await page.getByText('Edit this board').click();
    await page.getByLabel('Add a metric').fill('task_pids');
    await page.getByLabel('Where').fill('job=web');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('button', { name: 'Save board' }).click();
    await waitFor(
      'saved',
      async () => /saved v1/.test(await page.getByTestId('board-state').innerText()),
      WAIT,
    );
    const r = await c.api('GET', '/v1/boards/job.web');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const board = r.body as Board;
    assert.equal(board.panels.length, 6);
    assert.deepEqual(board.panels.at(-1), {
      title: 'task_pids',
      query: { name: 'task_pids', where: ['job=web'] },
    });
    assert.equal(board.panels[2]?.quantile, 0.99);
    await page.context().close();

    const v = await signedIn('#/dashboards/job.web', viewer);
    await waitFor(
      'the saved board',
      async () => /saved v1/.test(await v.getByTestId('board-state').innerText()),
      WAIT,
    );
    await v.locator('[data-chart^="Latency p99 (s) "]').waitFor({ timeout: WAIT });
    assert.equal(await v.getByText('Edit this board').count(), 0);
    await noWriteButtons(v, ['Save board', 'Delete board', 'Add']);
    await v.context().close();
  });

  test('the host page: its tasks, its history at a moment, cordon asking first; a viewer sees no buttons', async () => {
    const job = (await c.api('GET', '/v1/jobs/web')).body as JobView;
    const ids = job.tasks.map((t) => t.id).sort();
    const page = await signedIn(`#/hosts/${host}`);
    const rows = page.locator('[data-testid="host-tasks"] [data-task]');
    await waitFor('the host tasks', async () => (await rows.count()) === ids.length, WAIT);
    assert.deepEqual(
      (
        await Promise.all((await rows.all()).map(async (r) => (await r.getAttribute('data-task')) ?? ''))
      ).sort(),
      ids,
    );

    await page.getByLabel('At', { exact: true }).fill('now');
    const processes = page.getByTestId('processes');
    await waitFor(
      "a snapshot listing a task's process",
      async () => {
        await page.getByRole('button', { name: 'Show', exact: true }).click();
        await processes.waitFor({ timeout: WAIT });
        // The busiest 25 come first: under load the tasks' idle shells may be further down.
        const all = page.getByRole('button', { name: /^Show all \d+ processes$/ });
        if ((await all.count()) > 0) await all.click();
        const text = await processes.innerText();
        // And one snapshot before it (on a quick machine the first one can be found first).
        const previous = await page.getByRole('button', { name: 'Previous' }).isEnabled();
        return previous && ids.some((id) => text.includes(id));
      },
      WAIT,
    );
    const first = await page.getByTestId('history-time').innerText();
    await page.getByRole('button', { name: 'Previous' }).click();
    await waitFor(
      'the previous snapshot',
      async () => (await page.getByTestId('history-time').innerText()) !== first,
      WAIT,
    );

    await page.getByRole('button', { name: 'Cordon' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cordon' }).click();
    const state = async (): Promise<string> =>
      ((await c.api('GET', '/v1/hosts')).body as HostView[]).find((h) => h.id === host)?.state ?? '';
    await waitFor('cordoned', async () => (await state()) === 'cordoned', WAIT);
    await page.getByRole('button', { name: 'Uncordon' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Uncordon' }).click();
    await waitFor('ready again', async () => (await state()) === 'ready', WAIT);
    await page.context().close();

    const v = await signedIn(`#/hosts/${host}`, viewer);
    await waitFor(
      'the host tasks',
      async () => (await v.locator('[data-task]').count()) === ids.length,
      WAIT,
    );
    await v.getByText('needs a token covering every namespace').waitFor({ timeout: WAIT });
    await noWriteButtons(v, ['Cordon', 'Uncordon', 'Drain']);
    await v.context().close();
  });

  test('the mesh page draws the service graph of the dependency file, with request and error rates where shipped', async () => {
    const r = await c.cli(['mesh', 'apply', join(REPO, 'examples', 'mesh', 'deps.yaml'), '-m', 'ui test']);
    assert.equal(r.code, 0, r.stderr);
    const page = await signedIn('#/mesh');
    await page.locator('[data-edge="front>back"]').waitFor({ timeout: WAIT });
    for (const n of ['front', 'back', 'cache'])
      assert.equal(await page.locator(`[data-node="${n}"]`).count(), 1);
    assert.equal(await page.locator('[data-edge]').count(), 1);
    assert.match((await page.locator('[data-edge="front>back"]').textContent()) ?? '', /3000 ms · 2 retries/);
    await page.context().close();

    // What the proxies ship (docs/mesh.md): front -> back at 6 requests/s, 0.3 of them 5xx.
    const step = 10_000;
    const first = Math.floor((Date.now() - 5 * 60_000) / step) * step;
    const points = Math.floor((Date.now() - first - 1000) / step) + 1;
    const labels = { namespace: 'default', caller: 'front', upstream: 'back', job: 'back' };
    const counter = (name: string, extra: Record<string, string>, per: number) => ({
      name,
      labels: { ...labels, ...extra },
      kind: 'counter',
      // Up to now: the page shows the newest whole minute, which must hold all its points.
      samples: Array.from({ length: points }, (_, i) => [first + i * step + 1000, i * per]),
    });
    const ingest = await c.api('POST', '/v1/metrics/ingest', {
      host: 'vm',
      seq: 2,
      series: [
        counter('mesh_upstream_requests_total', {}, 60),
        counter('mesh_upstream_responses_total', { class: '5xx' }, 3),
      ],
    });
    assert.equal(ingest.status, 200, JSON.stringify(ingest.body));
    const withRates = await signedIn('#/mesh');
    const edge = withRates.locator('[data-edge="front>back"]');
    await edge.waitFor({ timeout: WAIT });
    const m = /([\d.]+) req\/s · ([\d.]+) err\/s/.exec((await edge.textContent()) ?? '');
    assert.ok(m, (await edge.textContent()) ?? '');
    assert.ok(Math.abs(Number(m[1]) - 6) < 0.5, `requests/s ${m[1]}`);
    assert.ok(Math.abs(Number(m[2]) - 0.3) < 0.05, `errors/s ${m[2]}`);
    assert.equal(await withRates.locator('.mesh-edge.failing').count(), 1);
    await withRates.context().close();
  });

  test('config pages: history, a diff between versions, revert asking first; a viewer cannot revert', async () => {
    for (const [i, port] of [
      [1, 8080],
      [2, 9090],
    ] as const) {
      const file = join(c.dataDir, `settings-${i}.json`);
      await writeFile(file, `{\n  "port": ${port},\n  "name": "web"\n}\n`);
      const r = await c.cli(['config', 'put', 'app/settings.json', file, '--message', `v${i}`]);
      assert.equal(r.code, 0, r.stderr);
    }
    const page = await signedIn('#/configs');
    await page.getByRole('link', { name: 'app/settings.json' }).click();
    await page.locator('[data-testid="versions"] [data-version]').nth(1).waitFor({ timeout: WAIT });
    const diff = page.getByRole('region', { name: 'diff' });
    await diff.locator('.diff-add').first().waitFor({ timeout: WAIT });
    assert.match(await diff.locator('.diff-del').innerText(), /8080/);
    assert.match(await diff.locator('.diff-add').innerText(), /9090/);
    await page.getByRole('button', { name: 'Revert to v1' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('.diff-add').first().waitFor({ timeout: WAIT });
    assert.match(await dialog.locator('.diff-add').innerText(), /8080/);
    await dialog.getByRole('button', { name: 'Revert' }).click();
    await page.locator('[data-testid="versions"] [data-version="3"]').waitFor({ timeout: WAIT });
    const versions = (await c.api('GET', '/v1/configs/app%2Fsettings.json/versions')).body as ConfigVersion[];
    assert.equal(versions.find((v) => v.version === 3)?.revertOf, 1);
    await page.context().close();

    const v = await signedIn('#/configs/app%2Fsettings.json', viewer);
    await v.locator('[data-testid="versions"] [data-version="3"]').waitFor({ timeout: WAIT });
    await noWriteButtons(v, ['Revert to v1', 'Revert to v2']);
    await v.context().close();
  });

  test('log tables: the query builder groups by column and time bucket; a table and a chart show the result', async () => {
    const page = await signedIn('#/tables');
    await page.getByLabel('Table').selectOption('events');
    await page.getByLabel('Group by').selectOption('kind');
    await page.getByRole('button', { name: 'Add aggregate' }).click();
    await page.getByLabel('Bucket').selectOption('1m');
    await page.getByRole('button', { name: 'Run' }).click();
    const result = page.getByTestId('result');
    await result.waitFor({ timeout: WAIT });
    assert.deepEqual(await result.locator('th').allInnerTexts(), ['bucket', 'kind', 'count']);
    assert.ok((await result.locator('tbody tr').count()) > 0);
    assert.ok((await page.getByTestId('line-chart').locator('polyline').count()) > 0);
    const hash = new URL(page.url()).hash;
    assert.match(hash, /table=events/);
    assert.match(hash, /by=kind/);
    await page.context().close();
  });
});
