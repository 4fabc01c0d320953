/** At most `limit` operations at once; the others wait their turn, first come first served. */
export class Admission {
  private readonly limit: number;
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(limit: number) {
    this.limit = Math.max(1, Math.floor(limit)); // Infinity: no limit
  }

  /** Operations running now and waiting (for tests and metrics). */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.queue.length };
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((r) => this.queue.push(r));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      // The slot passes straight to the next in line (nobody can overtake it).
      if (next) next();
      else this.running--;
    }
  }
}
