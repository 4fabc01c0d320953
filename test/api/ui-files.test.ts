/**
 * The web UI's files at /ui/ (src/server/routes/ui.ts), from a folder made here: public, with their
 * content types and caching, and nothing outside the folder reachable.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';

describe('GET /ui/', () => {
  let t: TestServer;
  let root: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dabba-ui-files-'));
    const dist = join(root, 'dist');
    await mkdir(dist);
    await writeFile(join(dist, 'index.html'), '<!doctype html><title>x</title>');
    await writeFile(join(dist, 'main-ABCDEFGH.js'), 'export {};');
    await writeFile(join(dist, 'styles-ABCDEFGH.css'), 'body{}');
    await writeFile(join(root, 'secret.js'), 'TOP-SECRET-CONTENT');
    t = await startTestServer('ui-files', { uiDir: dist });
  });
  after(async () => {
    await t?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('the page and its assets, without a token, with content types and caching', async () => {
    for (const path of ['/ui', '/ui/', '/ui/index.html']) {
      const r = await fetch(t.server.url + path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(r.headers.get('cache-control'), 'no-cache');
      assert.match(r.headers.get('content-security-policy') ?? '', /script-src 'self'/);
      assert.equal(await r.text(), '<!doctype html><title>x</title>');
    }
    const js = await fetch(`${t.server.url}/ui/main-ABCDEFGH.js`);
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
    const css = await fetch(`${t.server.url}/ui/styles-ABCDEFGH.css`);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    const root = await fetch(`${t.server.url}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/ui/');
  });

  test('nothing outside the folder, nor unknown kinds of file, is served', async () => {
    for (const path of [
      '/ui/..%2Fsecret.js',
      '/ui/%2E%2E%2Fsecret.js',
      '/ui/%2E%2E',
      '/ui/.hidden.js',
      '/ui/dist/index.html',
      '/ui/missing-ABCDEFGH.js',
      '/ui/index.txt',
    ]) {
      // (`/ui/%2E%2E` is a dot segment to the URL parser: the path `/`, which redirects to /ui/.)
      const r = await fetch(t.server.url + path, { redirect: 'manual' });
      const body = await r.text();
      assert.ok(
        r.status === 404 || (r.status === 302 && path === '/ui/%2E%2E'),
        `${path}: ${r.status} ${body}`,
      );
      assert.ok(!body.includes('TOP-SECRET-CONTENT'), `${path} leaked: ${body}`);
    }
  });

  test('a server without a UI folder answers 404 with the reason', async () => {
    const other = await startTestServer('ui-none');
    try {
      const r = await fetch(`${other.server.url}/ui/`);
      assert.equal(r.status, 404);
      assert.match(((await r.json()) as { message: string }).message, /no web UI/);
    } finally {
      await other.close();
    }
  });
});
