/** The control plane in one process: API, scheduler loop and housekeeping over one Store. */
import type { AddressInfo } from 'node:net';
import type { Clock, Logger } from '../lib/index.ts';
import { systemClock, sleep } from '../lib/index.ts';
import type { ImageStore } from '../image/index.ts';
import type { Store } from '../store/index.ts';
import { createApiServer } from './api.ts';
import { SchedulerLoop } from './scheduler-loop.ts';
import { EventLog } from './state/events.ts';

export interface ServerOptions {
  store: Store;
  /** Shown by /v1/health: "sqlite:PATH" or "etcd://...". */
  storeName: string;
  host: string;
  port: number;
  logger: Logger;
  clock?: Clock;
  /** Seconds without a heartbeat before a host is down. */
  hostTtlSeconds?: number;
  version?: string;
  /** Image store served to agents and filled by `dabba image import|create`. */
  images?: ImageStore;
}

export interface RunningServer {
  url: string;
  scheduler: SchedulerLoop;
  /** Stops accepting requests, ends streams and loops; does not close the store. */
  close(): Promise<void>;
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const clock = o.clock ?? systemClock;
  const controller = new AbortController();
  const signal = controller.signal;
  const events = new EventLog(o.store, clock);
  const http = createApiServer(
    {
      store: o.store,
      storeName: o.storeName,
      clock,
      logger: o.logger,
      events,
      liveness: { ttlSeconds: o.hostTtlSeconds ?? 10 },
      version: o.version ?? '0.1.0',
      ...(o.images ? { images: o.images } : {}),
    },
    signal,
  );
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(o.port, o.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const addr = http.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  const scheduler = new SchedulerLoop({
    store: o.store,
    clock,
    logger: o.logger.child({ part: 'scheduler' }),
    events,
  });
  const loops = [
    scheduler.run(signal),
    (async () => {
      while (!signal.aborted) {
        await sleep(60_000, signal);
        if (!signal.aborted)
          await events.trim().catch((e: unknown) => o.logger.warn({ err: e }, 'event trim failed'));
      }
    })(),
  ];
  o.logger.info({ url }, 'server listening');
  return {
    url,
    scheduler,
    async close() {
      controller.abort();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await Promise.allSettled(loops);
    },
  };
}
