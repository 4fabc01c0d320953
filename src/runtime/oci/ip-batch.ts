/**
 * One `ip -batch` for many tasks: command groups asked while one batch runs go together into the
 * next, so a burst of 50 starts runs `ip` twice instead of 50 times (each run of `ip` is a fork and
 * an exec; under load those are what a burst waits on). The batch runs with `-force`, so one task's
 * failing line does not stop the others', and `ip` names each failed line ("Command failed -:N"):
 * a group fails alone, with the messages of its own lines.
 */
import { RuntimeError } from '../../errors/index.ts';
import type { ToolResult } from './tool.ts';

interface Group {
  lines: string[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** Runs `ip -force -batch -` with these lines on stdin. */
export type IpBatchRunner = (lines: string[]) => Promise<ToolResult>;

/** Each failed line (1-based) and the messages `ip` printed for it. */
export function failedLines(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let messages: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)\s*$/.exec(line.trim());
    if (m) {
      out.set(Number(m[1]), messages.join('; '));
      messages = [];
    } else if (line.trim() !== '') messages.push(line.trim());
  }
  return out;
}

export class IpBatcher {
  readonly #run: IpBatchRunner;
  readonly #pending: Group[] = [];
  #running = false;

  constructor(run: IpBatchRunner) {
    this.#run = run;
  }

  /** Runs `lines` (in order, in one batch with other groups); rejects with what failed of them. */
  run(lines: string[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ lines, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      for (let batch = this.#pending.splice(0); batch.length > 0; batch = this.#pending.splice(0)) {
        await this.#runBatch(batch);
      }
    } finally {
      this.#running = false;
    }
  }

  async #runBatch(batch: Group[]): Promise<void> {
    let r: ToolResult;
    try {
      r = await this.#run(batch.flatMap((g) => g.lines));
    } catch (e) {
      for (const g of batch) g.reject(e);
      return;
    }
    const failed = failedLines(r.stderr);
    // Exit 1 with the failed lines named is `-force`'s answer; anything else (killed, not found,
    // a failure it did not attribute) may have stopped the batch anywhere: every group fails.
    const attributed = r.code === 0 || (r.code === 1 && failed.size > 0);
    let first = 1;
    for (const g of batch) {
      const mine: string[] = [];
      for (let n = first; n < first + g.lines.length; n++) {
        const message = failed.get(n);
        if (message !== undefined) mine.push(`${g.lines[n - first] ?? ''}: ${message || 'failed'}`);
      }
      first += g.lines.length;
      if (attributed && mine.length === 0) g.resolve();
      else
        g.reject(
          new RuntimeError(`network setup failed: ${attributed ? mine.join('; ') : r.stderr.trim()}`, {
            details: { reason: 'StartFailed', commands: g.lines },
          }),
        );
    }
  }
}
