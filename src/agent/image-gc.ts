/**
 * The agent's image budget: every interval, when its image store holds more than the budget, the
 * images no task on this host uses are removed, least recently pulled first, until it is back
 * under; then content nothing reaches (left by interrupted pulls, older layers) is swept. Images a
 * task here uses are never touched, whatever the budget. Only an agent with a store of its own
 * runs this (in `dabba dev` the store is the server's too, and the server decides).
 */
import type { Digest, ImageStore } from '../image/index.ts';
import { messageOf } from '../errors/index.ts';
import { formatSize, sleep, type Logger } from '../lib/index.ts';

export interface ImageGcOptions {
  images: ImageStore;
  /** Bytes the store may hold. */
  budgetBytes: number;
  /** Image references the tasks on this host use now. */
  inUse: () => Iterable<string>;
  intervalMs?: number;
  logger: Logger;
}

export interface ImageGcPass {
  usageBefore: number;
  usageAfter: number;
  removed: string[];
}

async function digestsInUse(images: ImageStore, refs: Iterable<string>): Promise<Digest[]> {
  const out: Digest[] = [];
  for (const ref of refs) {
    const d = await images.resolve(ref).catch(() => undefined);
    if (d !== undefined) out.push(d);
  }
  return out;
}

/** One pass: what it removed, and the store's size before and after. */
export async function imageGcPass(o: ImageGcOptions): Promise<ImageGcPass> {
  const usageBefore = await o.images.diskUsage();
  let usage = usageBefore;
  const removed: string[] = [];
  const inUse = await digestsInUse(o.images, o.inUse());
  if (usage > o.budgetBytes) {
    const used = new Set<string>(inUse);
    const candidates = (await o.images.tagged())
      .filter((t) => !used.has(t.digest))
      .sort((a, b) => a.createdAt - b.createdAt);
    for (const c of candidates) {
      if (usage <= o.budgetBytes) break;
      await o.images.untag(c.name);
      const freed = await o.images.collectGarbage({ only: [c.digest], inUse });
      usage -= freed.bytesFreed;
      removed.push(c.name);
    }
  }
  await o.images.collectGarbage({ inUse });
  const usageAfter = await o.images.diskUsage();
  return { usageBefore, usageAfter, removed };
}

export async function runImageGc(o: ImageGcOptions, signal: AbortSignal): Promise<void> {
  const intervalMs = o.intervalMs ?? 5 * 60 * 1000;
  while (!signal.aborted) {
    await sleep(intervalMs, signal).catch(() => undefined);
    if (signal.aborted) return;
    try {
      const pass = await imageGcPass(o);
      if (pass.removed.length > 0 || pass.usageAfter < pass.usageBefore)
        o.logger.info(
          {
            removed: pass.removed,
            usageBefore: pass.usageBefore,
            usageAfter: pass.usageAfter,
            budget: o.budgetBytes,
          },
          `image store: ${formatSize(pass.usageBefore)} -> ${formatSize(pass.usageAfter)} (budget ${formatSize(o.budgetBytes)})`,
        );
      if (pass.usageAfter > o.budgetBytes)
        o.logger.warn(
          { usage: pass.usageAfter, budget: o.budgetBytes },
          'image store over its budget with only images in use left',
        );
    } catch (e) {
      o.logger.warn({ err: messageOf(e) }, 'image garbage collection failed; trying again later');
    }
  }
}
