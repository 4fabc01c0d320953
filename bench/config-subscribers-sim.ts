/**
 * Simulated config subscribers for bench/config-subscribers.ts: COUNT hosts in this one process,
 * each speaking config distribution's real protocol over the network (docs/config.md,
 * "Distribution") — no agent, no task, no content:
 *
 * - control, against the server: it holds its tree stream open
 *   (`GET /v1/configdist/shards/S/hosts/ID/tree?url=U`, `position` events) and sends heartbeats
 *   (`POST .../heartbeat` with its counters) at the interval the distributor says, jittered;
 * - data: it reads the shard's metadata stream (`GET .../hosts/ID/meta`, `snapshot` then `meta`
 *   events) from its parent — another simulated host, in this process or another — or, as the
 *   root, from the server, and serves the same stream to its own children on this process's
 *   cleartext HTTP/2 server. Each host's URL is `http://ADDR:PORT/sim/ID` (ADDR: LOCAL, e.g.
 *   127.0.0.11), so that one listener serves them all.
 *
 * All of it over HTTP/2, as a real client that offers `h2` gets it from the server's TLS listener:
 * the hosts' streams and heartbeats to the server share one connection per HOSTS_PER_CONNECTION
 * hosts, and a child's metadata stream is one of the few connections between two simulators. So
 * 40,000 subscribers need a few dozen descriptors, not 40,000 (the machine's hard limit is 20,000).
 * Driven by its parent over IPC: `join`, then `versions` (how many hosts have each version, and
 * when each got it).
 *
 *   node bench/config-subscribers-sim.ts SERVER TOKEN INDEX COUNT SHARD LOCAL CA_FILE
 */
import { readFileSync } from 'node:fs';
import {
  connect,
  createServer,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type Http2ServerResponse,
  type OutgoingHttpHeaders,
} from 'node:http2';

const [SERVER = '', TOKEN = '', INDEX = '0', COUNT = '0', SHARD = '0', LOCAL = '127.0.0.1', CA_FILE = ''] =
  process.argv.slice(2);
const shard = Number(SHARD);
/** Tree streams being opened at once by this process (a burst of 40,000 overflows the backlog). */
const JOINING_AT_ONCE = 64;
/** Simulated hosts per HTTP/2 connection to the server (their tree streams, heartbeats, the root's metadata). */
const HOSTS_PER_CONNECTION = 5000;
const ca = CA_FILE === '' ? undefined : readFileSync(CA_FILE);

/**
 * HTTP/2 connections, by origin and slot: to the server (TLS, ALPN h2; one per HOSTS_PER_CONNECTION
 * hosts) and to other simulators' metadata servers (cleartext HTTP/2). Made again when one closes.
 */
const sessions = new Map<string, ClientHttp2Session>();
function session(origin: string, slot: number): ClientHttp2Session {
  const key = `${origin}#${slot}`;
  const known = sessions.get(key);
  if (known !== undefined && !known.closed && !known.destroyed) return known;
  const s = connect(origin, {
    maxSessionMemory: 256,
    settings: { maxConcurrentStreams: 100_000 },
    ...(ca ? { ca } : {}),
  });
  s.on('error', () => undefined);
  s.once('close', () => sessions.get(key) === s && sessions.delete(key));
  sessions.set(key, s);
  return s;
}

/** A request on the right connection; `res` gets the status, then the stream is read by the caller. */
function request(
  url: URL,
  slot: number,
  headers: OutgoingHttpHeaders,
  res: (status: number, stream: ClientHttp2Stream) => void,
): ClientHttp2Stream {
  const stream = session(url.origin, slot).request({ ':path': url.pathname + url.search, ...headers });
  stream.on('response', (h) => res(Number(h[':status']), stream));
  return stream;
}

type Sse = { event: string; data: string };

/** Server-sent events from a response, as they come. */
function onEvents(res: ClientHttp2Stream, fn: (e: Sse) => void): void {
  let buf = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buf += chunk;
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) fn({ event, data: data.join('\n') });
    }
  });
}

interface Meta {
  version: number;
}

class SimHost {
  readonly id: string;
  readonly url: string;
  parentUrl: string | null | undefined;
  heartbeatMs = 2000;
  ready = false;
  positions = 0;
  version = 0;
  /** Epoch ms each version arrived. */
  readonly got = new Map<number, number>();
  readonly children = new Set<Http2ServerResponse>();
  readonly waiting: Http2ServerResponse[] = [];
  metaReq: ClientHttp2Stream | undefined;
  readonly slot: number;
  beats = 0;

  constructor(id: string, url: string, slot: number) {
    this.id = id;
    this.url = url;
    this.slot = slot;
  }

  path(what: string): string {
    return `/v1/configdist/shards/${shard}/hosts/${encodeURIComponent(this.id)}/${what}`;
  }

  /** Opens the tree stream; resolves once the first position came (or the stream failed). */
  join(): Promise<void> {
    return new Promise((resolve) => {
      const u = new URL(`${SERVER}${this.path('tree')}?url=${encodeURIComponent(this.url)}`);
      let ended = false;
      // Joins again once, when this stream ends (the distributor closed it, or it failed).
      const again = (): void => {
        if (ended) return;
        ended = true;
        failures.tree++;
        resolve();
        setTimeout(() => void this.join(), 1000);
      };
      const req = request(u, this.slot, { authorization: `Bearer ${TOKEN}` }, (status, res) => {
        if (status !== 200) {
          res.resume();
          again();
          return;
        }
        onEvents(res, (e) => {
          if (e.event !== 'position') return;
          const p = JSON.parse(e.data) as { parent: { url: string } | null; heartbeatMs: number };
          this.positions++;
          this.heartbeatMs = p.heartbeatMs;
          const parent = p.parent?.url ?? null;
          if (parent !== this.parentUrl) {
            this.parentUrl = parent;
            this.follow();
          }
          resolve();
        });
      });
      req.on('error', (e: Error) => {
        errors[e.message] = (errors[e.message] ?? 0) + 1;
        again();
      });
      req.on('close', again);
      req.end();
    });
  }

  /** (Re)opens the metadata stream from the parent, or from the server for the root. */
  follow(): void {
    this.metaReq?.close();
    const base = this.parentUrl ?? SERVER;
    const req = request(
      new URL(`${base}${this.path('meta')}`),
      this.parentUrl === null ? this.slot : 0,
      this.parentUrl === null ? { authorization: `Bearer ${TOKEN}` } : {},
      (status, res) => {
        metaStatus[status] = (metaStatus[status] ?? 0) + 1;
        if (status !== 200) res.resume();
        else onEvents(res, (e) => this.apply(e));
      },
    );
    // The stream failed or ended (its upstream went, or refused): again, unless replaced since.
    const retry = (): void => {
      if (this.metaReq !== req) return;
      this.metaReq = undefined;
      failures.meta++;
      setTimeout(() => this.metaReq === undefined && this.follow(), 500);
    };
    req.on('error', retry);
    req.on('close', retry);
    this.metaReq = req;
    req.end();
  }

  apply(e: Sse): void {
    const now = Date.now();
    if (e.event === 'snapshot') {
      const metas = JSON.parse(e.data) as Meta[];
      const v = Math.max(this.version, ...metas.map((m) => m.version));
      // A version that came in a new upstream's snapshot (after a repair) arrived now too.
      if (this.ready && v > this.version) this.got.set(v, now);
      this.version = v;
      if (!this.ready) {
        this.ready = true;
        joined.ready++;
        for (const res of this.waiting.splice(0)) this.serve(res);
      }
      return;
    }
    if (e.event !== 'meta') return;
    const m = JSON.parse(e.data) as Meta;
    if (m.version <= this.version) return;
    this.version = m.version;
    this.got.set(m.version, now);
    const text = `event: meta\ndata: ${e.data}\n\n`;
    for (const child of this.children) child.write(text);
  }

  serve(res: Http2ServerResponse): void {
    if (!this.ready) {
      this.waiting.push(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.write(`event: snapshot\ndata: ${JSON.stringify([{ version: this.version }])}\n\n`);
    this.children.add(res);
    res.on('close', () => this.children.delete(res));
  }

  async beat(): Promise<void> {
    await new Promise((r) => setTimeout(r, this.heartbeatMs * (0.75 + Math.random() / 4)));
    const body = JSON.stringify({
      suspects: [],
      control: { positions: this.positions, heartbeats: ++this.beats },
      data: { metaReceived: this.got.size },
    });
    await new Promise<void>((resolve) => {
      const req = request(
        new URL(`${SERVER}${this.path('heartbeat')}`),
        this.slot,
        { ':method': 'POST', authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        (_status, res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            try {
              const r = JSON.parse(text) as { heartbeatMs?: number };
              if (typeof r.heartbeatMs === 'number') this.heartbeatMs = r.heartbeatMs;
            } catch {
              failures.heartbeat++;
            }
            resolve();
          });
        },
      );
      req.on('error', () => {
        failures.heartbeat++;
        resolve();
      });
      req.end(body);
    });
    heartbeats.sent++;
    void this.beat();
  }
}

const failures = { tree: 0, meta: 0, heartbeat: 0 };
const metaStatus: Record<number, number> = {};
const errors: Record<string, number> = {};
const joined = { positioned: 0, ready: 0 };
const heartbeats = { sent: 0 };
const hosts = new Map<string, SimHost>();

// The simulated hosts' metadata endpoints, cleartext HTTP/2 (a child's stream is one of a connection's many).
const server = createServer(
  { settings: { maxConcurrentStreams: 100_000 }, maxSessionMemory: 256 },
  (req, res) => {
    const m = /^\/sim\/([^/]+)\/v1\/configdist\/shards\/\d+\/hosts\/[^/]+\/meta$/.exec(req.url ?? '');
    const host = m ? hosts.get(decodeURIComponent(m[1] ?? '')) : undefined;
    if (host === undefined) {
      res.writeHead(404).end();
      return;
    }
    host.serve(res);
  },
);
await new Promise<void>((resolve) => server.listen(0, LOCAL, 511, resolve));
const port = (server.address() as { port: number }).port;
for (let i = 0; i < Number(COUNT); i++) {
  const id = `sim-${INDEX}-${i}`;
  hosts.set(id, new SimHost(id, `http://${LOCAL}:${port}/sim/${id}`, Math.floor(i / HOSTS_PER_CONNECTION)));
}

async function joinAll(): Promise<void> {
  const all = [...hosts.values()];
  let next = 0;
  await Promise.all(
    Array.from({ length: JOINING_AT_ONCE }, async () => {
      while (next < all.length) {
        const h = all[next++];
        if (h === undefined) break;
        await h.join();
        joined.positioned++;
        void h.beat();
      }
    }),
  );
}

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'join') {
    void joinAll();
  } else if (msg.type === 'state') {
    process.send?.({
      type: 'state',
      ...joined,
      failures,
      debug: {
        metaStatus,
        errors,
        failures,
        waiting: [...hosts.values()].reduce((a, h) => a + h.waiting.length, 0),
        children: [...hosts.values()].reduce((a, h) => a + h.children.size, 0),
        notReady: [...hosts.values()].filter((h) => h.parentUrl !== undefined && !h.ready).length,
        rootish: [...hosts.values()].filter((h) => h.parentUrl === null).length,
        sessions: sessions.size,
      },
      heartbeats: heartbeats.sent,
      memory: process.memoryUsage().rss,
    });
  } else if (msg.type === 'version') {
    const v = (msg as { type: string; version: number }).version;
    const at: number[] = [];
    for (const h of hosts.values()) {
      const t = h.got.get(v);
      if (t !== undefined) at.push(t);
    }
    process.send?.({ type: 'version', version: v, at });
  } else if (msg.type === 'stop') {
    process.exit(0);
  }
});
process.send?.({ type: 'listening', port });
