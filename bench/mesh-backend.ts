/**
 * The task the mesh benchmarks call: an HTTP server answering every request with a few bytes after
 * a fixed cost (`--cost-ms`, a timer: the CPU stays free for the proxies and the load generator),
 * at most `--concurrency` at once (the rest wait in its own queue, first come first served).
 * Prints its port on stdout once listening.
 *
 *   node bench/mesh-backend.ts [--concurrency 0 (no limit)] [--cost-ms 0]
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { concurrency: { type: 'string', default: '0' }, 'cost-ms': { type: 'string', default: '0' } },
});
const limit = Number(values.concurrency);
const costMs = Number(values['cost-ms']);
let busy = 0;
const waiting: ServerResponse[] = [];

function work(res: ServerResponse): void {
  busy++;
  const done = (): void => {
    busy--;
    if (!res.destroyed) res.end('ok\n');
    const next = waiting.shift();
    if (next !== undefined) work(next);
  };
  if (costMs > 0) setTimeout(done, costMs);
  else done();
}

const server = createServer((req, res) => {
  req.resume();
  res.setHeader('content-type', 'text/plain');
  if (limit > 0 && busy >= limit) waiting.push(res);
  else work(res);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${String((server.address() as AddressInfo).port)}\n`);
});
process.on('SIGTERM', () => process.exit(0));
