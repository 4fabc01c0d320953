/** Hands out free host ports from a range, never one another task of this runtime holds. */
import { createServer } from 'node:net';
import { RuntimeError } from '../../errors/index.ts';

export interface PortRange {
  min: number;
  max: number;
}

export const DEFAULT_PORT_RANGE: PortRange = { min: 20000, max: 32000 };

/** True when nothing listens on the port (checked on the wildcard address, which clashes with any). */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export class PortAllocator {
  readonly #range: PortRange;
  readonly #held = new Set<number>();
  #cursor: number;

  constructor(range: PortRange = DEFAULT_PORT_RANGE) {
    if (!(range.min >= 1 && range.max <= 65535 && range.min <= range.max)) {
      throw new RangeError(`bad port range ${range.min}-${range.max}`);
    }
    this.#range = range;
    // Start somewhere random so runtimes on one host rarely race for the same port.
    this.#cursor = range.min + Math.floor(Math.random() * (range.max - range.min + 1));
  }

  /** Marks ports as held (tasks re-adopted after a restart). */
  hold(ports: Iterable<number>): void {
    for (const p of ports) this.#held.add(p);
  }

  release(ports: Iterable<number>): void {
    for (const p of ports) this.#held.delete(p);
  }

  /** n free ports, held until released. Rejects with RuntimeError NoPortsAvailable. */
  async allocate(n: number): Promise<number[]> {
    const got: number[] = [];
    const size = this.#range.max - this.#range.min + 1;
    try {
      for (let tried = 0; got.length < n && tried < size; tried++) {
        const port = this.#next();
        if (this.#held.has(port)) continue;
        this.#held.add(port); // before the await: concurrent allocations never pick it too
        if (await canBind(port)) got.push(port);
        else this.#held.delete(port);
      }
    } catch (e) {
      this.release(got);
      throw e;
    }
    if (got.length < n) {
      this.release(got);
      throw new RuntimeError(`no free port in ${this.#range.min}-${this.#range.max}`, {
        details: { reason: 'NoPortsAvailable', range: this.#range },
      });
    }
    return got;
  }

  #next(): number {
    const p = this.#cursor;
    this.#cursor = p >= this.#range.max ? this.#range.min : p + 1;
    return p;
  }
}
