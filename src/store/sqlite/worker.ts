/**
 * The SQLite stores' thread: one per process, whatever the number of store files open (starting a
 * thread costs a fresh module graph). It opens files (engine.ts) and answers requests one at a time,
 * in the order they arrive. Started by store-thread.ts; never imported.
 */
import { parentPort } from 'node:worker_threads';
import { Engine } from './engine.ts';
import { unpackWrites } from './packed.ts';
import { toWire, type Opened, type Request, type Response } from './wire.ts';

const port = parentPort;
if (port === null) throw new Error('worker.ts runs as a worker thread of the SQLite store');

const engines = new Map<number, Engine>();

function answer(r: Request): unknown {
  if (r.type === 'open') {
    const e = new Engine(r.options);
    engines.set(r.db, e);
    const opened: Opened = { revision: e.revision, compactRevision: e.compactRevision };
    return opened;
  }
  const e = engines.get(r.db);
  if (e === undefined) throw new Error(`store ${r.db} is not open on the store thread`);
  switch (r.type) {
    case 'batch':
      return e.batch(unpackWrites(r.ops), r.now, r.faulted);
    case 'get':
      return e.get(r.key);
    case 'range':
      return e.range(r.prefix, r.limit);
    case 'history':
      return e.history(r.prefix, r.from, r.to, r.limit);
    case 'close':
      engines.delete(r.db);
      e.close();
      return undefined;
  }
}

port.on('message', (r: Request) => {
  let reply: Response;
  try {
    reply = { id: r.id, ok: true, value: answer(r) };
  } catch (e) {
    reply = { id: r.id, ok: false, error: toWire(e) };
  }
  port.postMessage(reply);
});
