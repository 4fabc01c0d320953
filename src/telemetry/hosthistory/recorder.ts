/**
 * The host-history recorder: every `intervalMs` (default 5 s) a sample of the host and its
 * processes, kept in blocks of `samplesPerBlock` (default 12: one minute) in hourly files, within a
 * disk budget and an age limit; and the query: the sample nearest a time, with the times of the one
 * before and after. Nothing it meets stops the agent: unreadable /proc entries are skipped, a failed
 * write (disk full) loses that block and is logged once a minute at most.
 */
import { messageOf } from '../../errors/index.ts';
import { silentLogger, sleep, systemClock, type Clock, type Logger } from '../../lib/index.ts';
import type { HistoryStep, HostHistorySnapshot } from '../../model/index.ts';
import { decodeBlock, encodeBlock } from './block-codec.ts';
import { HistoryFiles, type BlockRef } from './history-files.ts';
import { ProcReader } from './proc-reader.ts';
import type { Sample } from './sample.ts';
import { Sampler, type TaskRef } from './sampler.ts';
import { snapshotView } from './view.ts';

export interface HostHistoryOptions {
  hostId: string;
  /** Directory of the hour files (the agent's DATA_DIR/host-history). */
  dir: string;
  /** The tasks on this host now (for attribution). */
  tasks: () => readonly TaskRef[];
  intervalMs?: number;
  samplesPerBlock?: number;
  /** Disk budget of all files (default 256 MiB); the oldest hours go first. */
  budgetBytes?: number;
  /** Hours older than this are deleted (default 72 h). */
  maxAgeMs?: number;
  logger?: Logger;
  clock?: Clock;
  reader?: ProcReader;
}

export const HOST_HISTORY_DEFAULTS = {
  intervalMs: 5_000,
  samplesPerBlock: 12,
  budgetBytes: 256 * 1024 * 1024,
  maxAgeMs: 72 * 3_600_000,
};

interface Located {
  samples: Sample[];
  index: number;
  /** The blocks (stored, then the open one) and which one holds the sample. */
  before?: number;
  after?: number;
}

export class HostHistoryRecorder {
  readonly #o: HostHistoryOptions;
  readonly #files: HistoryFiles;
  readonly #sampler: Sampler;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #open: Sample[] = [];
  #lastWarn = 0;
  /** Samples taken and bytes written since start (for benchmarks). */
  readonly stats = { samples: 0, blocks: 0, bytesWritten: 0, failedWrites: 0 };

  constructor(o: HostHistoryOptions) {
    this.#o = o;
    this.#files = new HistoryFiles(o.dir);
    this.#sampler = new Sampler(o.reader ?? new ProcReader());
    this.#clock = o.clock ?? systemClock;
    this.#logger = o.logger ?? silentLogger;
    try {
      this.#files.recoverOpen();
    } catch (e) {
      this.#warn(e, 'could not recover the last host history block');
    }
  }

  /** Samples every interval until the signal aborts; then stores the block being filled. */
  async run(signal: AbortSignal): Promise<void> {
    const every = this.#o.intervalMs ?? HOST_HISTORY_DEFAULTS.intervalMs;
    let due = this.#clock.now();
    while (!signal.aborted) {
      this.tick();
      due += every;
      const now = this.#clock.now();
      if (due < now) due = now + every; // fell behind (suspended host): no burst of samples
      await sleep(due - now, signal);
    }
    this.flush();
  }

  /** Takes one sample (the first only primes the counters). */
  tick(): void {
    let sample: Sample | undefined;
    try {
      sample = this.#sampler.sample(this.#clock.now(), this.#o.tasks());
    } catch (e) {
      this.#warn(e, 'host history sample failed');
      return;
    }
    if (!sample) return;
    this.stats.samples++;
    this.#open.push(sample);
    if (this.#open.length >= (this.#o.samplesPerBlock ?? HOST_HISTORY_DEFAULTS.samplesPerBlock)) this.flush();
    else this.#saveOpen();
  }

  /** Stores the block being filled as a full block. */
  flush(): void {
    const block = this.#open;
    if (block.length === 0) return;
    this.#open = [];
    const first = block[0]?.time ?? 0;
    const last = block[block.length - 1]?.time ?? 0;
    try {
      const data = encodeBlock(block);
      this.#files.append(first, last, data);
      this.#files.dropOpen();
      this.stats.blocks++;
      this.stats.bytesWritten += data.length + 24;
      const deleted = this.#files.enforce(
        this.#o.budgetBytes ?? HOST_HISTORY_DEFAULTS.budgetBytes,
        this.#o.maxAgeMs ?? HOST_HISTORY_DEFAULTS.maxAgeMs,
        this.#clock.now(),
      );
      if (deleted.length > 0) this.#logger.info({ deleted }, 'host history: oldest hours deleted');
    } catch (e) {
      this.stats.failedWrites++;
      this.#warn(e, 'host history block not stored');
    }
  }

  #saveOpen(): void {
    const first = this.#open[0]?.time ?? 0;
    const last = this.#open[this.#open.length - 1]?.time ?? 0;
    try {
      this.#files.saveOpen(first, last, encodeBlock(this.#open, 1));
    } catch (e) {
      this.stats.failedWrites++;
      this.#warn(e, 'host history: the current block could not be saved');
    }
  }

  #warn(e: unknown, msg: string): void {
    const now = this.#clock.now();
    if (now - this.#lastWarn < 60_000) return;
    this.#lastWarn = now;
    this.#logger.warn({ err: messageOf(e) }, msg);
  }

  /** The snapshot nearest `at` (or the one before or after it); undefined when nothing is recorded. */
  snapshotAt(at: number, step: HistoryStep = 'nearest'): HostHistorySnapshot | undefined {
    let found = this.#locate(at);
    if (!found) return undefined;
    if (step !== 'nearest') {
      const n = this.#neighbours(found);
      const target = step === 'prev' ? n.prev : n.next;
      if (target === undefined) return undefined;
      found = this.#locate(target);
      if (!found) return undefined;
    }
    const s = found.samples[found.index];
    if (!s) return undefined;
    return snapshotView(this.#o.hostId, s, this.#neighbours(found));
  }

  #neighbours(f: Located): { prev?: number; next?: number } {
    const prev = f.samples[f.index - 1]?.time ?? f.before;
    const next = f.samples[f.index + 1]?.time ?? f.after;
    return { ...(prev === undefined ? {} : { prev }), ...(next === undefined ? {} : { next }) };
  }

  #locate(at: number): Located | undefined {
    type Candidate = { first: number; last: number; ref?: BlockRef };
    const blocks: Candidate[] = this.#files
      .blocks()
      .map((ref) => ({ first: ref.first, last: ref.last, ref }));
    const open = this.#open;
    if (open.length > 0) blocks.push({ first: open[0]?.time ?? 0, last: open[open.length - 1]?.time ?? 0 });
    let best = -1;
    let bestDistance = Infinity;
    for (const [i, b] of blocks.entries()) {
      const d = at < b.first ? b.first - at : at > b.last ? at - b.last : 0;
      if (d < bestDistance) {
        bestDistance = d;
        best = i;
      }
    }
    const chosen = blocks[best];
    if (!chosen) return undefined;
    let samples: Sample[];
    try {
      samples = chosen.ref ? decodeBlock(this.#files.read(chosen.ref)) : open;
    } catch (e) {
      this.#warn(e, 'host history block unreadable');
      return undefined;
    }
    let index = 0;
    for (const [i, s] of samples.entries())
      if (Math.abs(s.time - at) < Math.abs((samples[index]?.time ?? Infinity) - at)) index = i;
    const before = blocks[best - 1]?.last;
    const after = blocks[best + 1]?.first;
    return {
      samples,
      index,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
    };
  }
}
