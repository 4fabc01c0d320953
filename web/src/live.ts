/**
 * Live data for a page: it loads what it shows, then follows the event log (`GET /v1/events?follow=1`,
 * one stream per page; the client resumes from the last revision after a lost connection) and loads
 * again after events, at most once per `coalesceMs` however many arrive: no polling, no storms.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DabbaClient } from '../../src/client/browser.ts';
import type { DabbaEvent } from '../../src/model/event.ts';

export interface Live<T> {
  data: T | undefined;
  error: string | undefined;
  /** The newest events seen (newest first), at most 200. */
  events: DabbaEvent[];
  /** Loads again now (after an action). */
  reload: () => void;
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

export function useLive<T>(
  client: DabbaClient,
  load: (signal: AbortSignal) => Promise<T>,
  options: { key: string; job?: string; coalesceMs?: number; onEvent?: (e: DabbaEvent) => void },
): Live<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [events, setEvents] = useState<DabbaEvent[]>([]);
  const reloadRef = useRef<() => void>(() => undefined);
  const onEventRef = useRef(options.onEvent);
  onEventRef.current = options.onEvent;
  useEffect(() => {
    const stop = new AbortController();
    const signal = stop.signal;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    let again = false;
    const run = async (): Promise<void> => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          try {
            const value = await load(signal);
            if (!signal.aborted) {
              setData(value);
              setError(undefined);
            }
          } catch (e) {
            if (!signal.aborted) setError(errorText(e));
          }
        } while (again && !signal.aborted);
      } finally {
        running = false;
      }
    };
    const schedule = (): void => {
      if (timer !== undefined) return;
      timer = setTimeout(() => {
        timer = undefined;
        void run();
      }, options.coalesceMs ?? 250);
    };
    reloadRef.current = () => void run();
    void run();
    void (async () => {
      try {
        for await (const e of client.followEvents({
          signal,
          limit: 50,
          ...(options.job === undefined ? {} : { job: options.job }),
        })) {
          setEvents((old) => [e, ...old].slice(0, 200));
          onEventRef.current?.(e);
          schedule();
        }
      } catch (e) {
        if (!signal.aborted) setError(`live updates stopped: ${errorText(e)}`);
      }
    })();
    return () => {
      stop.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [client, options.key]);
  return { data, error, events, reload: () => reloadRef.current() };
}
