// A small real HTTP service for Dabba's quick start. Listens on $PORT (set by Dabba from the job's
// declared port), answers with a greeting, and exposes /healthz for its health checks.
// POST /fail makes /healthz fail from then on (to watch a liveness probe restart the task).
// It counts what it serves with Dabba's counter SDK (src/sdk/counters): /metrics answers them in
// Prometheus text (or OpenMetrics, or JSON, by Accept), /counters as a flat JSON map, and the job
// file's `task.metrics` tells the agent where to collect them.
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { describe, incrementCounter, metricsHandler, startTimer } from 'dabba/sdk/counters';

const port = Number(process.env.PORT ?? process.env.DABBA_PORT_HTTP ?? 8080);
const greeting = process.env.GREETING ?? 'hello';
const task = process.env.DABBA_TASK_ID ?? hostname();
const version = process.env.DABBA_JOB_VERSION ?? '?';
let healthy = true;
let served = 0;
const metrics = metricsHandler();
describe('hello_requests_total', 'counter', 'Greetings served.');
incrementCounter('hello_requests_total', 0); // served from the start at 0, so a rate sees the first request
describe('hello_request_seconds', 'histogram', 'Time to answer a greeting.');

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
  const done = startTimer('hello_request_seconds');
  served++;
  incrementCounter('hello_requests_total');
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`${greeting} from ${task} (version ${version}, pid ${process.pid}, request ${served})\n`);
  done();
});

server.listen(port, () => console.log(`${task}: listening on port ${port}`));
process.on('SIGTERM', () => {
  console.log(`${task}: SIGTERM, shutting down`);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
