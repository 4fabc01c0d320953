/**
 * The web UI's files (built into web/dist by scripts/build-ui.ts), served at `/ui/`: public (the
 * page holds no data; every API call it makes carries the user's token). The build's files sit in
 * one flat folder, so a file is one path segment of a fixed alphabet: nothing else is looked up,
 * and no path leaves the folder. Content-hashed names are cached for a year; index.html is
 * revalidated every time, so a new build is picked up at once.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { DabbaError } from '../../errors/index.ts';
import type { Router } from '../http/router.ts';

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  map: 'application/json; charset=utf-8',
};

const FILE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
/** esbuild's `[name]-[hash]` names: the content never changes under one name. */
const HASHED = /-[A-Z0-9]{8}\.[a-z]+$/;

/** The page's policy: only this origin's scripts, styles and API; no framing. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export function uiRoutes(router: Router, dir: string | undefined): void {
  const serve = async (res: ServerResponse, name: string): Promise<undefined> => {
    const dot = name.lastIndexOf('.');
    const type = TYPES[name.slice(dot + 1)];
    if (!FILE_NAME.test(name) || name.includes('..') || type === undefined)
      throw new DabbaError('DABBA_E_NOT_FOUND', `no such UI file: ${name}`, {
        details: { path: `/ui/${name}` },
      });
    if (dir === undefined)
      throw new DabbaError(
        'DABBA_E_NOT_FOUND',
        'this server has no web UI (run it from a checkout: npm ci builds it)',
      );
    let body: Buffer;
    try {
      body = await readFile(join(dir, name));
    } catch (e) {
      if (name === 'index.html')
        throw new DabbaError(
          'DABBA_E_UNAVAILABLE',
          `the web UI is not built in ${dir}: run \`npm run build:ui\` (npm ci and npm install build it)`,
          { cause: e },
        );
      throw new DabbaError('DABBA_E_NOT_FOUND', `no such UI file: ${name}`, {
        cause: e,
        details: { path: `/ui/${name}` },
      });
    }
    res.writeHead(200, {
      'content-type': type,
      'content-length': body.length,
      'cache-control': HASHED.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      ...(type.startsWith('text/html') ? { 'content-security-policy': CSP, 'x-frame-options': 'DENY' } : {}),
    });
    res.end(body);
    return undefined;
  };
  router.on('GET', '/', ({ res }) => {
    res.writeHead(302, { location: '/ui/', 'content-length': 0 });
    res.end();
    return Promise.resolve(undefined);
  });
  // `/ui` and `/ui/` (the router drops empty segments): the page.
  router.on('GET', '/ui', ({ res }) => serve(res, 'index.html'));
  router.on('GET', '/ui/:file', ({ res, params }) => serve(res, params['file'] ?? ''));
}
