// The mesh example's caller: GET /call asks `back` through this host's mesh proxy (the address in
// $DABBA_UPSTREAM_BACK) and answers with what back said; GET /call/NAME asks service NAME by Host
// header on $DABBA_MESH (403 for a service front did not declare). /healthz for its probes.
import { createServer, request } from 'node:http';

const port = Number(process.env.PORT ?? process.env.DABBA_PORT_HTTP ?? 8080);

function get(url, host) {
  return new Promise((resolve, reject) => {
    const headers = host === undefined ? {} : { host };
    const req = request(url, { headers, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok\n');
  try {
    let r;
    if (req.url === '/call') r = await get(`${process.env.DABBA_UPSTREAM_BACK ?? 'http://unset'}/`);
    else if (req.url.startsWith('/call/'))
      r = await get(`${process.env.DABBA_MESH ?? 'http://unset'}/`, req.url.slice(6));
    else r = { status: 404, body: 'try /call or /call/NAME\n' };
    res.writeHead(r.status, { 'content-type': 'text/plain' });
    res.end(r.body);
  } catch (e) {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`front could not reach its upstream: ${e.message}\n`);
  }
}).listen(port, () => console.log(`front listening on ${port}`));
