/**
 * The server on a full or read-only disk (docs/operations.md, "Storage faults"):
 *
 * - watches the data directories (statfs against the watermark, read-only check) and the writes the
 *   store and the API refuse for lack of space;
 * - says each change once: one log line (error when writes fail, warn below the watermark, info when
 *   it clears) and one event (written when the store takes writes again, if it cannot now);
 * - below the watermark, or while writes fail, refuses NEW job versions and image uploads (507
 *   DABBA_E_STORAGE_FULL), so that the small writes that keep tasks alive (status, heartbeats) still
 *   have room;
 * - gives `GET /v1/health` its `status` ('ok' | 'degraded') and `reasons`.
 */
import { dirname } from 'node:path';
import {
  StorageFullError,
  StorageReadOnlyError,
  isDabbaError,
  isStorageError,
  storageFaultOf,
  type DabbaError,
} from '../../errors/index.ts';
import {
  DiskMonitor,
  describeSpace,
  diskSpaceSync,
  type Clock,
  type DiskCondition,
  type Logger,
  type Watermark,
} from '../../lib/index.ts';
import type { EventLog, NewEvent } from '../state/events.ts';
import type { WriteObserver } from './observed-store.ts';

export interface StorageGuardOptions {
  /** Directories holding the server's data (the data dir, the image store). */
  paths: string[];
  watermark?: Watermark;
  intervalMs?: number;
  clock: Clock;
  logger: Logger;
}

export interface StorageHealth {
  status: 'ok' | 'degraded';
  reasons: string[];
}

/** Requests that store something new and large: refused below the watermark. */
const NEW_THINGS: { method: string; path: RegExp; what: string }[] = [
  { method: 'PUT', path: /^\/v1\/jobs\/[^/]+$/, what: 'new job versions' },
  { method: 'POST', path: /^\/v1\/images\/(import|create)$/, what: 'new images' },
];

export class StorageGuard implements WriteObserver {
  readonly monitor: DiskMonitor;
  readonly #o: StorageGuardOptions;
  #events: EventLog | undefined;
  #pending: NewEvent[] = [];
  /** Where the store's writes failed (cleared by its next successful write). */
  readonly #storeFaults = new Set<string>();

  constructor(o: StorageGuardOptions) {
    this.#o = o;
    this.monitor = new DiskMonitor({
      paths: o.paths,
      clock: o.clock,
      ...(o.watermark ? { watermark: o.watermark } : {}),
      ...(o.intervalMs === undefined ? {} : { intervalMs: o.intervalMs }),
      onChange: (added, cleared) => this.#changed(added, cleared),
    });
  }

  /** Where events go (the event log is built over the observed store). */
  attach(events: EventLog): void {
    this.#events = events;
  }

  /** Polls the directories and writes pending events until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const flusher = (async () => {
      while (!signal.aborted) {
        await this.monitor.check();
        await this.#flushEvents();
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.#o.intervalMs ?? 2000);
          signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
      }
    })();
    await flusher;
  }

  writeFailed(e: unknown): void {
    if (!isDabbaError(e)) return;
    const where = typeof e.details['where'] === 'string' ? e.details['where'] : 'the store';
    const free = typeof e.details['freeBytes'] === 'number' ? e.details['freeBytes'] : undefined;
    this.#storeFaults.add(where);
    this.monitor.reportFault(e.code === 'DABBA_E_STORAGE_READONLY' ? 'read-only' : 'full', where, free);
  }

  writeSucceeded(): void {
    if (this.#storeFaults.size === 0) return;
    for (const where of this.#storeFaults) this.monitor.reportWriteOk(where);
    this.#storeFaults.clear();
  }

  /**
   * An error an API request failed with: a lack of space or a read-only disk met anywhere (the
   * image store's blob writes, an upload) becomes DABBA_E_STORAGE_FULL / _READONLY and is reported.
   */
  failed(e: unknown): unknown {
    if (isStorageError(e)) return e;
    const fault = storageFaultOf(e);
    if (fault !== 'full' && fault !== 'read-only') return e;
    const path = (e as { path?: unknown }).path;
    const where = typeof path === 'string' ? this.#dirOf(path) : (this.#o.paths[0] ?? '.');
    const space = diskSpaceSync(where);
    const details = {
      where,
      reason: fault,
      ...(space ? { freeBytes: space.freeBytes, totalBytes: space.totalBytes } : {}),
    };
    this.monitor.reportFault(fault, where, space?.freeBytes);
    return fault === 'full'
      ? new StorageFullError(`no space left in ${where} (${describeSpace(space)})`, details, { cause: e })
      : new StorageReadOnlyError(`${where} is on a read-only file system`, details, { cause: e });
  }

  /** Throws for a request that would store something new while space is low or writes fail. */
  admit(method: string, pathname: string): void {
    const rule = NEW_THINGS.find((r) => r.method === method && r.path.test(pathname));
    if (rule === undefined) return;
    const conditions = this.monitor.conditions();
    const blocking =
      conditions.find((c) => c.kind === 'read-only') ??
      conditions.find((c) => c.kind === 'full') ??
      conditions.find((c) => c.kind === 'low');
    if (blocking === undefined) return;
    const details = {
      where: blocking.path,
      reason: blocking.kind === 'low' ? ('watermark' as const) : blocking.kind,
      ...(blocking.freeBytes === undefined ? {} : { freeBytes: blocking.freeBytes }),
      ...(blocking.totalBytes === undefined ? {} : { totalBytes: blocking.totalBytes }),
    };
    if (blocking.kind === 'read-only') {
      throw new StorageReadOnlyError(`${rule.what} are refused: ${blocking.message}`, details);
    }
    const w = this.monitor.watermark;
    throw new StorageFullError(
      blocking.kind === 'low'
        ? `${rule.what} are refused: free space in ${blocking.path} is below the watermark ` +
            `(${describeSpace(this.monitor.space(blocking.path))}; watermark ${Math.round(w.minFreeBytes / 1024 ** 2)} MiB or ${w.minFreePercent}%). ` +
            `Free some space or give the data directory more; tasks, status and heartbeats keep working`
        : `${rule.what} are refused: ${blocking.message}`,
      details,
    );
  }

  health(): StorageHealth {
    const reasons = this.monitor.conditions().map((c) => c.message);
    return { status: reasons.length === 0 ? 'ok' : 'degraded', reasons };
  }

  #dirOf(path: string): string {
    const inside = this.#o.paths.find((p) => path === p || path.startsWith(`${p}/`));
    return inside ?? dirname(path);
  }

  #changed(added: DiskCondition[], cleared: DiskCondition[]): void {
    const log = this.#o.logger;
    for (const c of added) {
      const fields = { kind: c.kind, path: c.path, freeBytes: c.freeBytes, totalBytes: c.totalBytes };
      if (c.kind === 'low') {
        log.warn(fields, `${c.message}: new job versions and images are refused until there is room`);
      } else {
        log.error(fields, `${c.message}: writes are refused, reads keep working; they resume by themselves`);
      }
      this.#pending.push({ kind: eventKind(c), message: c.message });
    }
    for (const c of cleared) {
      log.info({ kind: c.kind, path: c.path }, `storage condition cleared: ${c.message}`);
      this.#pending.push({
        kind: 'StorageRecovered',
        message: `cleared after ${Math.round((this.#o.clock.now() - c.since) / 1000)} s: ${c.message}`,
      });
    }
    void this.#flushEvents();
  }

  async #flushEvents(): Promise<void> {
    const events = this.#events;
    if (events === undefined || this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    try {
      await events.append(batch);
    } catch (e) {
      // Most likely the very fault they describe: written once the store takes writes again.
      this.#pending = [...batch, ...this.#pending];
      if (!isStorageError(e))
        this.#o.logger.warn({ err: (e as DabbaError).message }, 'storage event not written');
    }
  }
}

function eventKind(c: DiskCondition): string {
  return c.kind === 'full' ? 'StorageFull' : c.kind === 'read-only' ? 'StorageReadOnly' : 'StorageLow';
}
