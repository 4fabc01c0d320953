/**
 * One Store watch on etcd: a Watch stream with one watcher, re-created on another member from the
 * next undelivered revision whenever its stream breaks (member killed, member lost its leader,
 * connection dropped), so that no event is lost or repeated across failovers. etcd never splits a
 * revision over two responses (we do not ask for fragments), and each response becomes one batch.
 */
import type { IEvent, IWatchRequest, IWatchResponse } from 'etcd3';
import { CompactedError, StoreError, UnavailableError } from '../../errors/index.ts';
import { sleep, type Logger } from '../../lib/index.ts';
import type { WatchEvent } from '../store.ts';
import type { Connection } from './connection.ts';
import { detailsOf } from './grpc-errors.ts';
import { num, type Keyspace } from './keys.ts';
import { StreamQueue } from './stream-queue.ts';

export interface WatchRun {
  conn: Connection;
  keys: Keyspace;
  prefix: string;
  /** First revision to deliver (resolves when the start point is known). */
  start: Promise<number>;
  /** Aborts when the caller's signal does or the store closes. */
  signal: AbortSignal;
  /** How long the watch may go without a working stream before it gives up (ms). */
  giveUpMs: number;
  logger: Logger;
}

export async function* runWatch(w: WatchRun): AsyncGenerator<WatchEvent[], void, undefined> {
  const { conn, keys, signal } = w;
  let next: number;
  try {
    next = await w.start;
  } catch (e) {
    if (signal.aborted) return;
    throw e;
  }
  const range = keys.prefix(w.prefix);
  let brokenSince: number | undefined;
  let backoff = 0;
  while (!signal.aborted) {
    const ep = conn.current;
    let queue: StreamQueue<IWatchRequest, IWatchResponse> | undefined;
    let why: unknown;
    // Requests moved to another member (this one failed them): the watch moves too.
    const moved = new AbortController();
    const off = conn.onMove(() => {
      if (conn.current !== ep) moved.abort();
    });
    const streamSignal = AbortSignal.any([signal, moved.signal]);
    try {
      queue = new StreamQueue(await ep.stream<IWatchRequest, IWatchResponse>('Watch', 'watch'));
      queue.write({
        create_request: { ...range, start_revision: next, prev_kv: true, progress_notify: false },
      });
      for (;;) {
        const item = await queue.next(streamSignal);
        if (item.kind === 'aborted') break;
        if (item.kind === 'error') {
          why = item.error;
          break;
        }
        if (item.kind === 'end') {
          why = new Error('the watch stream ended');
          break;
        }
        const res = item.value;
        const compacted = num(res.compact_revision);
        if (compacted > 0) throw new CompactedError(next, compacted);
        if (res.canceled) {
          why = new Error(`the watch was cancelled: ${res.cancel_reason || 'no reason given'}`);
          if (/no leader/.test(res.cancel_reason)) break;
          throw new StoreError(`etcd ${ep.url} cancelled the watch on ${JSON.stringify(w.prefix)}`, {
            cause: why,
            details: { endpoint: ep.url, reason: res.cancel_reason },
          });
        }
        if (res.created) {
          brokenSince = undefined;
          backoff = 0;
        }
        const batch: WatchEvent[] = [];
        for (const e of res.events) {
          const ev = event(keys, e);
          if (ev.kv.modRevision >= next) batch.push(ev);
        }
        const last = batch[batch.length - 1];
        if (last !== undefined) {
          next = last.kv.modRevision + 1;
          yield batch;
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof CompactedError || e instanceof StoreError) throw e;
      why = e;
    } finally {
      off();
      queue?.close();
    }
    if (signal.aborted) return;
    if (moved.signal.aborted) {
      w.logger.debug({ from: ep.url, to: conn.current.url, next }, 'etcd: moving a watch');
      continue;
    }
    // The stream broke: watch again from the next revision, on the next member.
    conn.failed(ep, why);
    brokenSince ??= Date.now();
    if (Date.now() - brokenSince > w.giveUpMs) {
      throw new UnavailableError(
        `etcd unavailable at ${conn.urls.join(', ')}: the watch on ${JSON.stringify(w.prefix)} could not be restored for ${w.giveUpMs} ms: ${detailsOf(why)}`,
        { cause: why, details: { endpoints: conn.urls, nextRevision: next } },
      );
    }
    w.logger.debug({ endpoint: ep.url, next, err: detailsOf(why) }, 'etcd: re-establishing a watch');
    await sleep(backoff, signal);
    backoff = Math.min(1000, Math.max(25, backoff * 2));
  }
}

function event(keys: Keyspace, e: IEvent): WatchEvent {
  const kv = keys.kv(e.kv);
  const prev = e.prev_kv === null || e.prev_kv === undefined ? undefined : keys.kv(e.prev_kv);
  if (String(e.type) === 'Delete') {
    const tomb = {
      key: kv.key,
      value: '',
      createRevision: 0,
      modRevision: kv.modRevision,
      version: 0,
      lease: 0,
    };
    return prev === undefined ? { type: 'delete', kv: tomb } : { type: 'delete', kv: tomb, prevKv: prev };
  }
  return prev === undefined ? { type: 'put', kv } : { type: 'put', kv, prevKv: prev };
}
