/**
 * The web UI in a real headless Chromium against a real `dabba dev` (process runtime): sign in, see a
 * CLI deploy appear live and reach healthy, follow a task's log, roll back from the UI after a
 * confirmation showing the diff, scale's dry run, a viewer without write buttons, and an unplaced
 * task's explanation.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { JobView, MetricsQueryResult } from '../../src/model/index.ts';
import { launchBrowser, type TestBrowser } from '../helpers/browser.ts';
import { DevCluster, waitFor } from '../helpers/dev-cluster.ts';

const WAIT = 60_000;

interface Probe {
  width: number;
  cssWidth: number;
  /** The band colours (4 bands) as the canvas stores them ("r,g,b,a"), lightest first. */
  positive: string[];
  negative: string[];
  /** Every pixel of each asked column, top to bottom. */
  columns: string[][];
}

/** The little of the DOM the probe uses (this file is type-checked without the DOM's types). */
interface Context2d {
  fillStyle: string;
  fillRect(x: number, y: number, w: number, h: number): void;
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
}
interface CanvasLike {
  width: number;
  height: number;
  clientWidth: number;
  getContext(kind: '2d'): Context2d | null;
}

/**
 * Runs in the page: reads columns of a horizon chart's canvas, and the colours bandColors(4, hue)
 * makes (web/src/components/horizon.ts), as the canvas stores them.
 */
function canvasProbe(canvas: CanvasLike, xs: number[]): Probe {
  const doc = (globalThis as unknown as { document: { createElement(t: 'canvas'): CanvasLike } }).document;
  const ctx = canvas.getContext('2d');
  if (ctx === null) throw new Error('no 2d context');
  const rgb = (css: string): string => {
    const s = doc.createElement('canvas');
    s.width = s.height = 1;
    const sc = s.getContext('2d');
    if (sc === null) throw new Error('no 2d context');
    sc.fillStyle = css;
    sc.fillRect(0, 0, 1, 1);
    return Array.from(sc.getImageData(0, 0, 1, 1).data).join(',');
  };
  const light = [80, 62, 43, 25];
  return {
    width: canvas.width,
    cssWidth: canvas.clientWidth,
    positive: light.map((l) => rgb(`hsl(140 65% ${l}%)`)),
    negative: light.map((l) => rgb(`hsl(215 65% ${l}%)`)),
    columns: xs.map((cx) => {
      const d = ctx.getImageData(cx, 0, 1, canvas.height).data;
      const px: string[] = [];
      for (let i = 0; i < d.length; i += 4) px.push(Array.from(d.slice(i, i + 4)).join(','));
      return px;
    }),
  };
}

function tickerYaml(greeting: string): string {
  return `name: ticker
replicas: 2
task:
  command: ["sh", "-c", "i=0; while true; do echo \\"tick $i $GREETING\\"; i=$((i+1)); sleep 0.3; done"]
  env: { GREETING: "${greeting}" }
  resources: { cpu: 0.1, memory: 32Mi, pids: 16 }
  stopGracePeriod: 1s
update: { maxUnavailable: 1, maxSurge: 1, minHealthy: 1s, deadline: 1m }
`;
}

describe('web UI in Chromium against dabba dev', () => {
  let c: DevCluster;
  let b: TestBrowser;
  let admin: string;

  before(async () => {
    c = await DevCluster.start();
    admin = await c.adminToken();
    await writeFile(join(c.dataDir, 'ticker-v1.yaml'), tickerYaml('one'));
    await writeFile(join(c.dataDir, 'ticker-v2.yaml'), tickerYaml('two'));
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
    if (hash !== '#/') await page.goto(`${c.url}/ui/${hash}`);
    return page;
  }

  async function job(name: string): Promise<JobView> {
    const r = await c.api('GET', `/v1/jobs/${name}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as JobView;
  }

  test('the login page takes a token; #token= signs in directly and leaves the address', async () => {
    const page = await b.page();
    await page.goto(`${c.url}/ui/`);
    await page.getByLabel('Token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor({ timeout: WAIT });
    assert.match(await page.getByRole('alert').innerText(), /not accepted/);
    await page.getByLabel('Token').fill(admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('identity').waitFor({ timeout: WAIT });
    assert.match(await page.getByTestId('identity').innerText(), /admin/);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Token').waitFor({ timeout: WAIT });
    await page.context().close();

    const direct = await signedIn('#/');
    assert.ok(!direct.url().includes(admin), `the token stays in the address: ${direct.url()}`);
    await direct.context().close();
  });

  test('a CLI deploy appears live in the jobs list and its rollout reaches healthy on the job page', async () => {
    const page = await signedIn('#/jobs');
    await page.getByRole('heading', { name: 'Jobs' }).waitFor({ timeout: WAIT });
    assert.equal(await page.locator('[data-job="ticker"]').count(), 0);
    const deploy = c.cli(['deploy', join(c.dataDir, 'ticker-v1.yaml')]);
    await page.locator('[data-job="ticker"]').waitFor({ timeout: WAIT });
    await page.getByRole('link', { name: 'ticker' }).click();
    await page.locator('[data-testid="deployment"][data-state="succeeded"]').waitFor({ timeout: WAIT });
    const healthy = page.locator('[data-testid="tasks"] .badge-healthy');
    await waitFor('2 healthy tasks on the page', async () => (await healthy.count()) === 2, WAIT);
    const r = await deploy;
    assert.equal(r.code, 0, r.stderr);
    await page.context().close();
  });

  test("a task's log streams: a line printed after the page opened appears; search filters", async () => {
    const v = await job('ticker');
    const task = v.tasks.find((t) => t.state === 'running');
    assert.ok(task, 'a running task');
    const page = await signedIn(`#/jobs/ticker/tasks/${task.id}`);
    const logs = page.getByTestId('logs');
    await logs.locator('div').first().waitFor({ timeout: WAIT });
    const newest = async (): Promise<number> =>
      Math.max(...(await logs.innerText()).split('\n').map((l) => Number(/tick (\d+)/.exec(l)?.[1] ?? -1)));
    const seen = await newest();
    assert.ok(seen >= 0, await logs.innerText());
    await waitFor('a newer log line', async () => (await newest()) >= seen + 3, WAIT);
    await page.getByLabel('Search').fill('tick 1');
    const lines = (await logs.innerText()).split('\n').filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0);
    for (const l of lines) assert.match(l, /tick 1/);
    await page.context().close();
  });

  test('roll back from the UI: the confirmation shows the diff, then the job runs v1 as v3', async () => {
    const r = await c.cli(['deploy', join(c.dataDir, 'ticker-v2.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    const page = await signedIn('#/jobs/ticker');
    await page.getByLabel('Roll back to').selectOption('1');
    await page.getByRole('button', { name: 'Roll back' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('.diff-add').first().waitFor({ timeout: WAIT });
    assert.match(
      await dialog
        .locator('.diff-del')
        .allInnerTexts()
        .then((t) => t.join('\n')),
      /two/,
    );
    assert.match(
      await dialog
        .locator('.diff-add')
        .allInnerTexts()
        .then((t) => t.join('\n')),
      /one/,
    );
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await page.getByText('Version v3').waitFor({ timeout: WAIT });
    const v = await job('ticker');
    assert.equal(v.version, 3);
    assert.deepEqual((v.spec as { task: { env: Record<string, string> } }).task.env, { GREETING: 'one' });
    await page.locator('[data-testid="deployment"][data-state="succeeded"]').waitFor({ timeout: WAIT });
    await page.context().close();
  });

  test("scale asks first and shows the server's dry run", async () => {
    const page = await signedIn('#/jobs/ticker');
    await page.getByLabel('Replicas').fill('3');
    await page.getByRole('button', { name: 'Scale' }).click();
    const plan = page.getByRole('dialog').getByTestId('plan');
    await plan.waitFor({ timeout: WAIT });
    assert.match(await plan.innerText(), /start 1 on/);
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await job('ticker')).replicas, 2, 'cancel changes nothing');
    await page.context().close();
  });

  test('a viewer token sees the job but no button that writes', async () => {
    const t = await c.cli(['token', 'create', 'ui-viewer', '--role', 'viewer', '--namespace', 'default']);
    assert.equal(t.code, 0, t.stderr);
    const page = await signedIn('#/jobs/ticker', t.stdout.trim());
    assert.match(await page.getByTestId('identity').innerText(), /viewer/);
    await page.getByTestId('tasks').waitFor({ timeout: WAIT });
    for (const name of ['Roll back', 'Scale', 'Stop', 'Promote'])
      assert.equal(await page.getByRole('button', { name }).count(), 0, `a viewer sees ${name}`);
    const admins = await signedIn('#/jobs/ticker');
    await admins.getByRole('button', { name: 'Scale' }).waitFor({ timeout: WAIT });
    await admins.context().close();
    await page.context().close();
  });

  test('an unplaced task shows why it has no host', async () => {
    const file = join(c.dataDir, 'huge.yaml');
    await writeFile(
      file,
      'name: huge\nreplicas: 1\ntask:\n  command: ["sleep", "60"]\n  resources: { cpu: 512, memory: 32Mi }\n',
    );
    const r = await c.cli(['deploy', file, '--detach']);
    assert.equal(r.code, 0, r.stderr);
    let summary = '';
    await waitFor(
      'an explanation',
      async () => {
        summary = (await job('huge')).tasks.find((t) => t.explanation !== null)?.explanation?.summary ?? '';
        return summary !== '';
      },
      WAIT,
    );
    const page = await signedIn('#/jobs/huge');
    const box = page.getByTestId('unplaced');
    await box.waitFor({ timeout: WAIT });
    const text = await box.innerText();
    assert.match(text, /1 task not placed/);
    assert.ok(text.includes(summary), `${text} lacks ${summary}`);
    await page.context().close();
  });

  test("dashboards: horizon bands and colours follow the data; the cursor shows every chart's value", async () => {
    // Two series of one metric, one point per 10 s over the last 50 minutes: task a is 100 for the
    // first third, 250 for the second and -400 for the last (its extent is 400, so with 4 bands:
    // 1 band, 3 bands, 4 negative bands); task b is 50 throughout.
    const now = Date.now();
    const step = 10_000;
    const first = Math.floor((now - 50 * 60_000) / step) * step;
    const n = 300;
    const a = (i: number): number => (i < n / 3 ? 100 : i < (2 * n) / 3 ? 250 : -400);
    const samples = (f: (i: number) => number): [number, number][] =>
      Array.from({ length: n }, (_, i) => [first + i * step + 1000, f(i)]);
    const ingest = await c.api('POST', '/v1/metrics/ingest', {
      host: 'vm',
      seq: 1,
      series: [
        { name: 'ui_wave', labels: { namespace: 'default', task: 'a' }, kind: 'gauge', samples: samples(a) },
        {
          name: 'ui_wave',
          labels: { namespace: 'default', task: 'b' },
          kind: 'gauge',
          samples: samples(() => 50),
        },
      ],
    });
    assert.equal(ingest.status, 200, JSON.stringify(ingest.body));

    const page = await signedIn('#/dashboards');
    await page.getByText('Edit this board').click();
    await page.getByLabel('Add a metric').fill('ui_wave');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    const chartA = page.locator('[data-chart^="ui_wave "][data-chart*="task=a"]');
    const chartB = page.locator('[data-chart^="ui_wave "][data-chart*="task=b"]');
    await chartA.waitFor({ timeout: WAIT });
    await chartB.waitFor({ timeout: WAIT });
    const q = (await c.api('GET', '/v1/metrics/query?name=ui_wave&since=1h&step=10s'))
      .body as MetricsQueryResult;
    const x = (i: number): number => Math.floor((first + i * step + 1000 - q.start) / q.step);
    const columns = await chartA
      .locator('canvas')
      .evaluate(canvasProbe, [x(n / 6), x(n / 2), x((5 * n) / 6)]);
    assert.equal(columns.cssWidth, columns.width, 'one CSS pixel per step');
    assert.ok(Math.abs(columns.width - 360) <= 1, `an hour at 10 s steps: ${columns.width} px`);
    const [low, mid, neg] = columns.columns;
    const { positive, negative } = columns;
    // 100 of 400: the first band, whole; nothing darker.
    assert.deepEqual(new Set(low), new Set([positive[0]]));
    // 250 of 400: two and a half bands: the third band (darker) over the lower half, the second above.
    assert.deepEqual(new Set(mid?.slice(0, 15)), new Set([positive[1]]));
    assert.deepEqual(new Set(mid?.slice(15)), new Set([positive[2]]));
    // -400: every band, in the negative colour: the darkest.
    assert.deepEqual(new Set(neg), new Set([negative[3]]));

    // Without a cursor, each chart shows its newest value, even when the newest step has none yet.
    await waitFor(
      'the latest values',
      async () => (await chartA.getByTestId('cursor-value').innerText()) === '-400',
      WAIT,
    );
    assert.equal(await chartB.getByTestId('cursor-value').innerText(), '50');
    const box = await chartA.locator('canvas').boundingBox();
    assert.ok(box);
    await page.mouse.move(box.x + x(n / 2) + 0.5, box.y + 15);
    await waitFor(
      'the cursor values',
      async () => (await chartA.getByTestId('cursor-value').innerText()) === '250',
      WAIT,
    );
    assert.equal(await chartB.getByTestId('cursor-value').innerText(), '50');
    await page.mouse.move(box.x + x((5 * n) / 6) + 0.5, box.y + 15);
    await waitFor(
      'the cursor values',
      async () => (await chartA.getByTestId('cursor-value').innerText()) === '-400',
      WAIT,
    );
    assert.equal(await chartB.getByTestId('cursor-value').innerText(), '50');
    await page.context().close();
  });
});
