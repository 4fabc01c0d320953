/**
 * A gRPC stream's responses as something to await one at a time, with backpressure (the stream is
 * paused while too many responses wait) and abort.
 */

/** The parts of a @grpc/grpc-js ClientDuplexStream used here. */
export interface DuplexStream<Req, Res> {
  write(item: Req): boolean;
  end(): void;
  cancel(): void;
  pause(): unknown;
  resume(): unknown;
  on(event: 'data', fn: (item: Res) => void): unknown;
  on(event: 'end', fn: () => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
}

export type StreamItem<Res> =
  { kind: 'data'; value: Res } | { kind: 'error'; error: Error } | { kind: 'end' } | { kind: 'aborted' };

const HIGH_WATER = 64;
const LOW_WATER = 8;

export class StreamQueue<Req, Res> {
  readonly stream: DuplexStream<Req, Res>;
  #items: StreamItem<Res>[] = [];
  #finished = false;
  #paused = false;
  #closed = false;
  #wake: (() => void) | undefined;

  constructor(stream: DuplexStream<Req, Res>) {
    this.stream = stream;
    stream.on('data', (value) => {
      this.#push({ kind: 'data', value });
      if (!this.#paused && this.#items.length >= HIGH_WATER) {
        this.#paused = true;
        stream.pause();
      }
    });
    stream.on('error', (error) => this.#finish({ kind: 'error', error }));
    stream.on('end', () => this.#finish({ kind: 'end' }));
  }

  write(item: Req): void {
    if (!this.#closed) this.stream.write(item);
  }

  /** The next response, or how the stream ended; `aborted` as soon as signal aborts. */
  async next(signal: AbortSignal): Promise<StreamItem<Res>> {
    for (;;) {
      if (signal.aborted) return { kind: 'aborted' };
      const item = this.#items.shift();
      if (item !== undefined) {
        if (this.#paused && this.#items.length <= LOW_WATER) {
          this.#paused = false;
          this.stream.resume();
        }
        return item;
      }
      await new Promise<void>((resolve) => {
        const onAbort = (): void => done();
        const done = (): void => {
          signal.removeEventListener('abort', onAbort);
          this.#wake = undefined;
          resolve();
        };
        this.#wake = done;
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  /** Cancels the call (if still running) and forgets what is queued. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#items = [];
    if (!this.#finished) this.stream.cancel();
  }

  #push(item: StreamItem<Res>): void {
    if (this.#closed) return;
    this.#items.push(item);
    this.#wake?.();
  }

  #finish(item: StreamItem<Res>): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#push(item);
  }
}
