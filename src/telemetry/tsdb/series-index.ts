/**
 * The index of series: `series.jsonl` in the store's directory, one JSON line per series
 * ({id, name, labels}) in the order they were first seen; a series' ref is its line number, which
 * the head log uses. Append-only: new lines are written (and fsynced) by `flush()`, before any head
 * log record that refers to them. A torn last line (a crash mid-write) is ignored and cut on open.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DabbaError } from '../../errors/index.ts';
import { seriesId, seriesKey, sortedLabels, validateSeries, type Labels } from './labels.ts';

export interface SeriesInfo {
  readonly ref: number;
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export class SeriesIndex {
  readonly #path: string;
  readonly #byKey = new Map<string, number>();
  readonly #byId = new Map<string, number>();
  readonly #byName = new Map<string, number[]>();
  readonly #series: SeriesInfo[] = [];
  #pending: string[] = [];
  #fd: number;

  constructor(dir: string) {
    this.#path = join(dir, 'series.jsonl');
    if (existsSync(this.#path)) this.#load();
    this.#fd = openSync(this.#path, 'a');
  }

  get size(): number {
    return this.#series.length;
  }

  /** The ref of a series, creating it (validated) when new. */
  ref(name: string, labels: Labels): number {
    const key = seriesKey(name, labels);
    const known = this.#byKey.get(key);
    if (known !== undefined) return known;
    validateSeries(name, labels);
    const info: SeriesInfo = {
      ref: this.#series.length,
      id: seriesId(key),
      name,
      labels: sortedLabels(labels),
    };
    this.#add(info, key);
    this.#pending.push(JSON.stringify({ id: info.id, name, labels: info.labels }) + '\n');
    return info.ref;
  }

  get(ref: number): SeriesInfo | undefined {
    return this.#series[ref];
  }
  refOfId(id: string): number | undefined {
    return this.#byId.get(id);
  }
  /** Refs of the series with this metric name. */
  refsOfName(name: string): readonly number[] {
    return this.#byName.get(name) ?? [];
  }
  all(): readonly SeriesInfo[] {
    return this.#series;
  }

  /** Writes and fsyncs the lines of series created since the last flush. */
  flush(): void {
    if (this.#pending.length === 0) return;
    writeSync(this.#fd, this.#pending.join(''));
    fsyncSync(this.#fd);
    this.#pending = [];
  }

  close(): void {
    this.flush();
    closeSync(this.#fd);
    this.#fd = -1;
  }

  #add(info: SeriesInfo, key: string): void {
    const clash = this.#byId.get(info.id);
    if (clash !== undefined) {
      throw new DabbaError(
        'DABBA_E_INTERNAL',
        `series id ${info.id} of ${key} collides with another series`,
        {
          details: { id: info.id, key },
        },
      );
    }
    this.#series.push(info);
    this.#byKey.set(key, info.ref);
    this.#byId.set(info.id, info.ref);
    const list = this.#byName.get(info.name);
    if (list === undefined) this.#byName.set(info.name, [info.ref]);
    else list.push(info.ref);
  }

  #load(): void {
    const text = readFileSync(this.#path, 'utf8');
    let at = 0;
    while (at < text.length) {
      const nl = text.indexOf('\n', at);
      if (nl < 0) break;
      let rec: { id: string; name: string; labels: Record<string, string> };
      try {
        rec = JSON.parse(text.slice(at, nl)) as typeof rec;
      } catch {
        break;
      }
      const key = seriesKey(rec.name, rec.labels);
      this.#add({ ref: this.#series.length, id: rec.id, name: rec.name, labels: rec.labels }, key);
      at = nl + 1;
    }
    if (at < text.length) truncateSync(this.#path, Buffer.byteLength(text.slice(0, at)));
  }
}
