// One replica of the kv example: a small key-value store holding one shard, its data in files on
// the task's volume (DABBA_VOLUME_DATA), so a replica restarted or updated on the same host finds
// them again (and catches up from a peer on the writes it missed while it was down). A replica that starts with an empty volume (a new host after a move, a lost host's
// replacement) is not ready until it has copied its shard from a live peer; it finds its peers
// through the controller's discovery endpoint (KV_DISCOVERY), which reads them from Dabba's API.
// Writes go to any replica of the key's shard, which stores them and forwards them to its peers.
//
//   GET  /kv/KEY    the value (404: none; 421: another shard's key, with its shard; 503: syncing)
//   PUT  /kv/KEY    store a value (the body), answers { copies } (this replica and the peers that took it)
//   GET  /status    { task, job, shard, state: syncing | serving, origin, caughtUp, keys }
//   GET  /dump      every entry (what a new replica copies), only while serving
//   GET  /healthz   liveness; GET /ready: 200 once serving (the readiness probe)
//
// See README.md beside this file.
import { createServer } from 'node:http';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const port = Number(process.env.PORT ?? process.env.DABBA_PORT_HTTP ?? 8080);
const task = process.env.DABBA_TASK_ID ?? `kv-${process.pid}`;
const job = process.env.DABBA_JOB ?? 'kv';
const shard = Number(process.env.SHARD ?? '0');
const shards = Number(process.env.SHARDS ?? '1');
const discovery = process.env.KV_DISCOVERY;
const dataDir = process.env.DABBA_VOLUME_DATA ?? join(process.cwd(), `data-${task}`);
const keysDir = join(dataDir, 'keys');
const markerFile = join(dataDir, 'shard.json');
const MAX_KEY = 100; // bytes: a key is a file name in hex
const MAX_VALUE = 1 << 20;

if (!Number.isInteger(shards) || shards < 1 || !Number.isInteger(shard) || shard < 0 || shard >= shards) {
  console.error(
    `${task}: SHARD must be an integer from 0 to SHARDS-1 (got SHARD=${shard}, SHARDS=${shards})`,
  );
  process.exit(2);
}

const log = (msg) => console.log(`${task} (${job}, shard ${shard}): ${msg}`);

/** syncing: not ready, copying the shard; serving: ready. */
let state = 'syncing';
/** Where the data came from: volume (found on this host), copy:TASK, or new (a new shard). */
let origin = 'none';
/** A replica that found its shard on the volume: the peer it caught up from, and how many keys were newer. */
let caughtUp = null;

// ---- storage: one file per key, {value, ts, by}, replaced atomically ----------------------------

const fileOf = (key) => join(keysDir, Buffer.from(key, 'utf8').toString('hex'));

function readEntry(key) {
  try {
    return JSON.parse(readFileSync(fileOf(key), 'utf8'));
  } catch (e) {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Last writer wins: by time, then by writer. */
const newer = (a, b) => a.ts > b.ts || (a.ts === b.ts && a.by > b.by);

/** Stores an entry unless the one held is newer; true when stored. */
function writeEntry(key, entry) {
  const held = readEntry(key);
  if (held !== undefined && !newer(entry, held)) return false;
  const file = fileOf(key);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(entry));
  renameSync(tmp, file);
  return true;
}

function keyNames() {
  return readdirSync(keysDir)
    .filter((f) => !f.endsWith('.tmp'))
    .map((f) => Buffer.from(f, 'hex').toString('utf8'));
}

function readMarker() {
  try {
    return JSON.parse(readFileSync(markerFile, 'utf8'));
  } catch (e) {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  }
}

function serve(how) {
  writeFileSync(`${markerFile}.tmp`, JSON.stringify({ shard, job, since: Date.now(), origin: how }));
  renameSync(`${markerFile}.tmp`, markerFile);
  origin = how;
  state = 'serving';
}

/** FNV-1a of the key's bytes: the shard that holds it. */
function shardOf(key) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(key, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h % shards;
}

// ---- peers, through discovery --------------------------------------------------------------------

async function getJson(url, timeoutMs = 2000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.json();
}

/** The shard's replicas as discovery lists them: [{ task, url }], this one included. */
async function listReplicas() {
  if (discovery === undefined) return [{ task, url: `http://127.0.0.1:${port}` }];
  const body = await getJson(`${discovery}?job=${encodeURIComponent(job)}`);
  return body.replicas;
}

let peerCache = { at: 0, peers: [] };
async function peers() {
  if (Date.now() - peerCache.at > 1000) {
    peerCache = { at: Date.now(), peers: (await listReplicas()).filter((r) => r.task !== task) };
  }
  return peerCache.peers;
}

/**
 * Until serving: join the shard. Discovery must list this replica (its view is current) and every
 * other replica listed must answer. A replica that starts empty copies the shard from one that
 * serves; one that found the shard on its volume catches up from it (the writes it missed while it
 * was down: the newer entries win). When all answer and none serves, the volume's data is served
 * as it is, or, on an empty volume, the shard is new.
 */
async function joinShard(fromVolume) {
  for (;;) {
    try {
      const replicas = await listReplicas();
      if (!replicas.some((r) => r.task === task)) throw new Error('discovery does not list this replica yet');
      const others = replicas.filter((r) => r.task !== task);
      const seen = await Promise.all(
        others.map((p) =>
          getJson(`${p.url}/status`).then(
            (s) => ({ p, s }),
            () => ({ p, s: undefined }),
          ),
        ),
      );
      const source = seen.find((x) => x.s?.state === 'serving' && x.s.shard === shard && x.s.job === job);
      if (source !== undefined) {
        const dump = await getJson(`${source.p.url}/dump`, 30_000);
        let n = 0;
        for (const [key, entry] of Object.entries(dump.entries)) if (writeEntry(key, entry)) n++;
        if (fromVolume) {
          caughtUp = { from: source.p.task, newer: n };
          serve('volume');
          log(`found the shard on the volume and caught up from ${source.p.task} (${n} newer keys); serving`);
        } else {
          serve(`copy:${source.p.task}`);
          log(`copied the shard from ${source.p.task} (${n} keys); serving`);
        }
        return;
      }
      const silent = seen.filter((x) => x.s === undefined).map((x) => x.p.task);
      if (silent.length === 0) {
        serve(fromVolume ? 'volume' : 'new');
        log(
          fromVolume
            ? `no other replica serves (${others.length} others): serving the volume's ${keyNames().length} keys`
            : `no replica of the shard holds data (${others.length} others): a new shard; serving`,
        );
        return;
      }
      log(`waiting to join the shard: no serving peer, and ${silent.join(', ')} did not answer`);
    } catch (e) {
      log(`waiting to join the shard: ${e.message}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** A client's write, sent on to every peer (best effort): how many replicas took it. */
async function forward(key, entry) {
  let list = [];
  try {
    list = await peers();
  } catch (e) {
    log(`write of ${key} not forwarded: discovery failed: ${e.message}`);
  }
  const results = await Promise.all(
    list.map((p) =>
      fetch(`${p.url}/kv/${encodeURIComponent(key)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'x-kv-replica': task },
        body: JSON.stringify(entry),
        signal: AbortSignal.timeout(2000),
      }).then(
        (r) => r.ok,
        () => false,
      ),
    ),
  );
  return results.filter(Boolean).length;
}

// ---- HTTP --------------------------------------------------------------------------------------

function send(res, status, body) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > MAX_VALUE)
      throw Object.assign(new Error(`a value is at most ${MAX_VALUE} bytes`), { status: 413 });
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://kv');
  if (url.pathname === '/healthz') return send(res, 200, 'ok\n');
  if (url.pathname === '/ready') return send(res, state === 'serving' ? 200 : 503, `${state}\n`);
  if (url.pathname === '/status') {
    return send(res, 200, { task, job, shard, shards, state, origin, caughtUp, keys: keyNames().length });
  }
  if (url.pathname === '/dump') {
    if (state !== 'serving') return send(res, 503, { error: 'syncing' });
    const entries = {};
    for (const key of keyNames()) {
      const e = readEntry(key);
      if (e !== undefined) entries[key] = e;
    }
    return send(res, 200, { task, shard, entries });
  }
  if (!url.pathname.startsWith('/kv/')) return send(res, 404, { error: `no route ${url.pathname}` });
  const key = decodeURIComponent(url.pathname.slice('/kv/'.length));
  const size = Buffer.byteLength(key, 'utf8');
  if (size === 0 || size > MAX_KEY) return send(res, 400, { error: `a key is 1 to ${MAX_KEY} bytes` });
  const owner = shardOf(key);
  if (owner !== shard) return send(res, 421, { error: `key ${key} is held by shard ${owner}`, shard: owner });
  if (req.method === 'PUT' && req.headers['x-kv-replica'] !== undefined) {
    // A peer's forwarded write: taken while syncing too (the copy keeps the newer entry).
    const entry = JSON.parse(await readBody(req));
    return send(res, 200, { stored: writeEntry(key, entry) });
  }
  if (state !== 'serving')
    return send(res, 503, { error: 'syncing: joining the shard (copying from a peer)' });
  if (req.method === 'GET') {
    const e = readEntry(key);
    return e === undefined ? send(res, 404, { error: `no key ${key}` }) : send(res, 200, e.value);
  }
  if (req.method === 'PUT') {
    const entry = { value: await readBody(req), ts: Date.now(), by: task };
    writeEntry(key, entry);
    const copies = 1 + (await forward(key, entry));
    return send(res, 200, { key, shard, task, copies });
  }
  return send(res, 405, { error: 'GET or PUT' });
}

mkdirSync(keysDir, { recursive: true });
const marker = readMarker();
if (marker !== undefined && marker.shard !== shard) {
  console.error(
    `${task}: the volume ${dataDir} holds shard ${marker.shard}, not ${shard}: refusing to start`,
  );
  process.exit(2);
}

const server = createServer((req, res) => {
  handle(req, res).catch((e) => send(res, e.status ?? 500, { error: e.message }));
});
server.listen(port, () => log(`listening on port ${port}, data in ${dataDir}`));

if (marker !== undefined) log(`found the shard on the volume (${keyNames().length} keys)`);
joinShard(marker !== undefined).catch((e) => {
  console.error(`${task}: joining the shard failed: ${e.message}`);
  process.exit(1);
});

process.on('SIGTERM', () => {
  log('SIGTERM, shutting down');
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
