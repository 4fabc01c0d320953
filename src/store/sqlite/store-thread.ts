/**
 * The caller's end of the SQLite stores' thread (worker.ts): one thread per process, started with
 * the first store opened and ended with the last one closed. Requests are matched with their
 * answers, which come back in the order the requests were sent. The thread keeps the process alive
 * only while it owes an answer, as a connection on the caller's thread would.
 */
import type { EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { StoreError } from '../../errors/index.ts';
import { fromWire, type Call, type OpenOptions, type Opened, type Response } from './wire.ts';

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** The one thread and what it owes. */
class Shared {
  readonly worker: Worker;
  readonly waiting = new Map<number, Waiter>();
  /** Stores open on it (the thread ends when the last one closes). */
  users = 0;
  #nextId = 1;
  #dead: Error | undefined;

  constructor() {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (m: Response) => {
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) this.worker.unref();
      if (m.ok) w.resolve(m.value);
      else w.reject(fromWire(m.error));
    });
    this.worker.on('error', (e) => this.#die(e));
    this.worker.on('exit', (code) => this.#die(new Error(`the store thread exited (code ${code})`)));
  }

  call<T>(db: number, body: Call): Promise<T> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...body, id, db });
    });
  }

  #die(e: unknown): void {
    if (shared === this) shared = undefined;
    if (this.#dead !== undefined) return;
    this.#dead = new StoreError(`the store thread failed: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
    for (const w of this.waiting.values()) w.reject(this.#dead);
    this.waiting.clear();
  }
}

let shared: Shared | undefined;
let nextDb = 1;

/** One store file open on the store thread. */
export class StoreThread {
  readonly #shared: Shared;
  readonly #db: number;
  #closed = false;

  private constructor(s: Shared, db: number) {
    this.#shared = s;
    this.#db = db;
  }

  /** Opens the file on the store thread (starting it if needed); the opener's errors are thrown. */
  static async open(o: OpenOptions): Promise<{ thread: StoreThread; opened: Opened }> {
    shared ??= new Shared();
    const s = shared;
    const thread = new StoreThread(s, nextDb++);
    s.users++;
    try {
      const opened = await s.call<Opened>(thread.#db, { type: 'open', options: o });
      return { thread, opened };
    } catch (e) {
      await thread.#release();
      throw e;
    }
  }

  call<T>(body: Exclude<Call, { type: 'open' }>): Promise<T> {
    return this.#shared.call<T>(this.#db, body);
  }

  /** How busy the thread's event loop has been since it started (shared by every store on it). */
  utilization(): EventLoopUtilization {
    return this.#shared.worker.performance.eventLoopUtilization();
  }

  /** Closes the file (after every request sent before); the last store closed ends the thread. */
  async close(): Promise<void> {
    try {
      await this.call({ type: 'close' });
    } finally {
      await this.#release();
    }
  }

  async #release(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const s = this.#shared;
    s.users--;
    if (s.users > 0) return;
    if (shared === s) shared = undefined;
    await s.worker.terminate();
  }
}
