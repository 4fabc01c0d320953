// A small real HTTP service for Dabba's quick start. Listens on $PORT (set by Dabba from the job's
// declared port), answers with a greeting, and exposes /healthz for its health checks.
// POST /fail makes /healthz fail from then on (to watch a liveness probe restart the task).
// It counts what it serves with Dabba's counter SDK (src/sdk/counters): /metrics answers them in
// Prometheus text (or OpenMetrics, or JSON, by Accept), /counters as a flat JSON map, and the job
// file's `task.metrics` tells the agent where to collect them. A copy of this folder outside the
// repository cannot reach the SDK: it then runs without counters (and says so).
import { createServer } from 'node:http';
import { hostname } from 'node:os';

const port = Number(process.env.PORT ?? process.env.DABBA_PORT_HTTP ?? 8080);
const greeting = process.env.GREETING ?? 'hello';
const task = process.env.DABBA_TASK_ID ?? hostname();
const version = process.env.DABBA_JOB_VERSION ?? '?';
let healthy = true;
let served = 0;
const sdk = await import('dabba/sdk/counters').catch((e) => {
  console.error(
    `${task}: counters off: the SDK (dabba/sdk/counters) is not reachable from here (${e.code ?? e.message})`,
  );
  return undefined;
});
const metrics = sdk ? sdk.metricsHandler() : () => false;
sdk?.describe('hello_requests_total', 'counter', 'Greetings served.');
sdk?.incrementCounter('hello_requests_total', 0); // served at 0 from the start: a rate sees the first request
sdk?.describe('hello_request_seconds', 'histogram', 'Time to answer a greeting.');

const server = createServer((req, res) => {
  if (metrics(req, res)) return;
  if (req.url === '/healthz') {
    res.writeHead(healthy ? 200 : 500, { 'content-type': 'text/plain' });
    return res.end(healthy ? 'ok\n' : 'failing\n');
  }
  if (req.url === '/fail' && req.method === 'POST') {
    healthy = false;
    console.error(`${task}: asked to fail its health check`);
    res.writeHead(200, { 'content-type': 'text/plain' });
    return res.end('health check will fail from now on\n');
  }
  const done = sdk?.startTimer('hello_request_seconds');
  served++;
  sdk?.incrementCounter('hello_requests_total');
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`${greeting} from ${task} (version ${version}, pid ${process.pid}, request ${served})\n`);
  done?.();
});

server.listen(port, () => console.log(`${task}: listening on port ${port}`));
process.on('SIGTERM', () => {
  console.log(`${task}: SIGTERM, shutting down`);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
