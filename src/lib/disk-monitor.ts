/**
 * Watches the file systems of some directories: free space (statfs) against a watermark, whether
 * they turned read-only (the mount flag, or a probe write refused: write-probe.ts), and the write faults that callers report. Its conditions clear by
 * themselves: a full disk once a write succeeds or space was freed, a read-only one once the
 * directory is writable again.
 */
import { sleep } from './abort.ts';
import { systemClock, type Clock } from './clock.ts';
import { describeSpace, diskSpace, writableFs, type DiskSpace } from './disk-space.ts';
import { writeRefused } from './write-probe.ts';

export interface Watermark {
  /** Free space below this many bytes is low. */
  minFreeBytes: number;
  /** Free space below this percentage of the file system is low. */
  minFreePercent: number;
}

export type DiskConditionKind = 'full' | 'read-only' | 'low';

export interface DiskCondition {
  kind: DiskConditionKind;
  /** The directory (or store address) concerned. */
  path: string;
  message: string;
  /** When it was first seen (ms since the epoch, from the monitor's clock). */
  since: number;
  freeBytes?: number;
  totalBytes?: number;
}

export interface DiskMonitorOptions {
  paths: string[];
  watermark?: Watermark;
  /** How often the directories are looked at (default 2,000 ms). */
  intervalMs?: number;
  clock?: Clock;
  /** Called after the set of conditions changed, with what appeared and what cleared. */
  onChange?: (added: DiskCondition[], cleared: DiskCondition[]) => void;
}

interface Fault {
  kind: 'full' | 'read-only';
  path: string;
  since: number;
  /** Free bytes when the fault was reported (a full disk clears once clearly more is free). */
  freeAtFault: number | undefined;
}

/** Space freed beyond what was free at a fault that counts as "space returned". */
const CLEAR_MARGIN_BYTES = 1024 * 1024;

export const DEFAULT_WATERMARK: Watermark = { minFreeBytes: 64 * 1024 * 1024, minFreePercent: 2 };

export class DiskMonitor {
  readonly #paths: string[];
  readonly #watermark: Watermark;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  readonly #onChange: DiskMonitorOptions['onChange'];
  readonly #faults = new Map<string, Fault>();
  readonly #polled = new Map<string, { space: DiskSpace | undefined; writable: boolean; refused?: string }>();
  #conditions = new Map<string, DiskCondition>();

  constructor(o: DiskMonitorOptions) {
    this.#paths = [...new Set(o.paths)];
    this.#watermark = o.watermark ?? DEFAULT_WATERMARK;
    this.#intervalMs = o.intervalMs ?? 2000;
    this.#clock = o.clock ?? systemClock;
    this.#onChange = o.onChange;
  }

  get watermark(): Watermark {
    return this.#watermark;
  }

  /** Looks at every directory once and updates the conditions. */
  async check(): Promise<void> {
    for (const path of this.#paths) {
      const [space, mounted] = await Promise.all([diskSpace(path), writableFs(path)]);
      // Mounted read-write, but does it take a write? (the kernel's emergency read-only)
      const refused = mounted ? await writeRefused(path) : undefined;
      const writable = mounted && refused === undefined;
      this.#polled.set(path, { space, writable, ...(refused === undefined ? {} : { refused }) });
      for (const [key, f] of this.#faults) {
        if (!within(f.path, path)) continue;
        const freed =
          space !== undefined && space.freeBytes > (f.freeAtFault ?? 0) + CLEAR_MARGIN_BYTES && writable;
        if ((f.kind === 'full' && freed) || (f.kind === 'read-only' && writable)) this.#faults.delete(key);
      }
    }
    this.#update();
  }

  /** Polls until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.check();
      await sleep(this.#intervalMs, signal);
    }
  }

  /** A write for `path` failed for lack of space or on a read-only file system. */
  reportFault(kind: 'full' | 'read-only', path: string, freeBytes?: number): void {
    const key = `${kind}|${path}`;
    if (!this.#faults.has(key)) {
      this.#faults.set(key, { kind, path, since: this.#clock.now(), freeAtFault: freeBytes });
      this.#update();
    }
  }

  /** A write for `path` succeeded: faults reported for it are over. */
  reportWriteOk(path: string): void {
    let changed = false;
    for (const [key, f] of this.#faults) {
      if (f.path === path) changed = this.#faults.delete(key) || changed;
    }
    if (changed) this.#update();
  }

  conditions(): DiskCondition[] {
    return [...this.#conditions.values()];
  }

  /** The watermark condition of the directory holding `path`, if its free space is low. */
  low(path?: string): DiskCondition | undefined {
    return this.conditions().find((c) => c.kind === 'low' && (path === undefined || within(path, c.path)));
  }

  /** The last free space seen for the directory holding `path`. */
  space(path: string): DiskSpace | undefined {
    for (const [p, s] of this.#polled) if (within(path, p)) return s.space;
    return undefined;
  }

  /** Why `path` takes no writes: mounted read-only, or refusing writes though mounted read-write. */
  #readOnlyMessage(path: string): string {
    const refused = this.#polled.get(path)?.refused;
    return refused === undefined
      ? `${path} is on a read-only file system`
      : `${path} refuses writes (${refused}) though mounted read-write: the kernel's emergency read-only after I/O errors? (check the kernel log; fsck and mount it again)`;
  }

  #isLow(s: DiskSpace): boolean {
    return s.freeBytes < this.#watermark.minFreeBytes || s.freePercent < this.#watermark.minFreePercent;
  }

  #update(): void {
    const next = new Map<string, DiskCondition>();
    const add = (c: Omit<DiskCondition, 'since'>, since?: number): void => {
      const key = `${c.kind}|${c.path}`;
      if (next.has(key)) return;
      next.set(key, { ...c, since: this.#conditions.get(key)?.since ?? since ?? this.#clock.now() });
    };
    for (const f of this.#faults.values()) {
      // A fault below a watched directory is that directory's condition (said once, not per file).
      const path = this.#paths.find((p) => within(f.path, p)) ?? f.path;
      const space = this.space(path);
      add(
        {
          kind: f.kind,
          path,
          message:
            f.kind === 'full'
              ? `no space left in ${path} (${describeSpace(space)})`
              : this.#readOnlyMessage(path),
          ...spaceFields(space),
        },
        f.since,
      );
    }
    for (const [path, p] of this.#polled) {
      if (!p.writable) {
        add({ kind: 'read-only', path, message: this.#readOnlyMessage(path) });
      } else if (p.space !== undefined && p.space.freeBytes === 0) {
        add({ kind: 'full', path, message: `no space left in ${path}`, ...spaceFields(p.space) });
      } else if (p.space !== undefined && this.#isLow(p.space)) {
        add({
          kind: 'low',
          path,
          message: `free space in ${path} is below the watermark (${describeSpace(p.space)}; watermark ${Math.round(this.#watermark.minFreeBytes / 1024 ** 2)} MiB or ${this.#watermark.minFreePercent}%)`,
          ...spaceFields(p.space),
        });
      }
    }
    const added = [...next].filter(([k]) => !this.#conditions.has(k)).map(([, c]) => c);
    const cleared = [...this.#conditions].filter(([k]) => !next.has(k)).map(([, c]) => c);
    this.#conditions = next;
    if (added.length > 0 || cleared.length > 0) this.#onChange?.(added, cleared);
  }
}

function spaceFields(s: DiskSpace | undefined): { freeBytes?: number; totalBytes?: number } {
  return s === undefined ? {} : { freeBytes: s.freeBytes, totalBytes: s.totalBytes };
}

/** Whether `path` is `dir` or below it. */
function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}
