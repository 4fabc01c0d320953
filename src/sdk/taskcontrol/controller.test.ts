import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TaskControlRequest } from '../../model/index.ts';
import { serveTaskControl } from './controller.ts';

const request: TaskControlRequest = {
  job: 'kv-0',
  sequence: 1,
  pending: [
    { id: 'replace:a', task: 'a', op: 'replace', host: 'h1', reason: 'v2' },
    { id: 'replace:b', task: 'b', op: 'replace', host: 'h2', reason: 'v2' },
  ],
  notices: [],
  completed: [],
  unhealthy: [],
};

test('serveTaskControl: routes answer their own requests, POSTs they leave go to decide', async () => {
  const seen: string[] = [];
  const c = await serveTaskControl(() => ['replace:b', 'replace:zz'], {
    routes: (req, res) => {
      seen.push(`${req.method ?? ''} ${req.url ?? ''}`);
      if (req.url === '/boom') throw new Error('route failed');
      if (req.method !== 'GET' || req.url !== '/peers') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ replicas: [] }));
      return true;
    },
  });
  try {
    const peers = await fetch(`${c.url}peers`);
    assert.equal(peers.status, 200);
    assert.deepEqual(await peers.json(), { replicas: [] });
    const post = await fetch(c.url, { method: 'POST', body: JSON.stringify(request) });
    assert.equal(post.status, 200);
    assert.deepEqual(await post.json(), { ack: ['replace:b'] }, 'only pending ids are acknowledged');
    const other = await fetch(`${c.url}other`);
    assert.equal(other.status, 405, 'a GET no route takes is not a TaskControl request');
    const boom = await fetch(`${c.url}boom`);
    assert.equal(boom.status, 500);
    assert.match(((await boom.json()) as { error: string }).error, /route failed/);
    assert.deepEqual(seen, ['GET /peers', 'POST /', 'GET /other', 'GET /boom']);
  } finally {
    await c.close();
  }
});
