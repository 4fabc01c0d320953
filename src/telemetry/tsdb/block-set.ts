/** The block files of a store, opened and listed by tier and time. */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BlockReader } from './block-file.ts';
import { parseBlockName, TIERS, type Tier } from './layout.ts';

export interface OpenBlock {
  tier: Tier;
  start: number;
  seq: number;
  reader: BlockReader;
}

export class BlockSet {
  readonly #blocks: Record<Tier, OpenBlock[]> = { raw: [], '5m': [], '1h': [] };

  constructor(dir: string) {
    for (const tier of TIERS) {
      mkdirSync(join(dir, tier), { recursive: true });
      for (const f of readdirSync(join(dir, tier))) {
        if (f.endsWith('.tmp')) {
          // A compaction or cut that crashed before its rename: the sources are still there.
          rmSync(join(dir, tier, f), { force: true });
          continue;
        }
        const name = parseBlockName(tier, f);
        if (name !== null) this.add(tier, name.start, name.seq, join(dir, tier, f));
      }
    }
  }

  add(tier: Tier, start: number, seq: number, path: string): OpenBlock {
    const b = { tier, start, seq, reader: new BlockReader(path) };
    const list = this.#blocks[tier];
    list.push(b);
    list.sort((x, y) => x.start - y.start || x.seq - y.seq);
    return b;
  }

  /** Closes and deletes a block (its data lives on in a roll-up). */
  remove(b: OpenBlock): void {
    b.reader.close();
    rmSync(b.reader.path, { force: true });
    const list = this.#blocks[b.tier];
    list.splice(list.indexOf(b), 1);
  }

  list(tier: Tier): readonly OpenBlock[] {
    return this.#blocks[tier];
  }

  /** Blocks of a tier whose range overlaps [start, end), oldest first. */
  overlapping(tier: Tier, start: number, end: number): OpenBlock[] {
    return this.#blocks[tier].filter((b) => b.reader.meta.start < end && b.reader.meta.end > start);
  }

  /** Bytes on disk per tier. */
  bytes(): Record<Tier, number> {
    const out = { raw: 0, '5m': 0, '1h': 0 };
    for (const tier of TIERS) for (const b of this.#blocks[tier]) out[tier] += b.reader.size;
    return out;
  }

  close(): void {
    for (const tier of TIERS) for (const b of this.#blocks[tier]) b.reader.close();
  }
}
