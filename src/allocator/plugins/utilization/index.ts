/**
 * utilization: ranks hosts by how full they would be with the task, averaged over cpu and memory
 * (fractions of capacity). Spread scoring prefers the emptiest host (least allocated); binpack the
 * fullest (most allocated), which leaves whole hosts free for large tasks.
 */
import type { ScorePlugin } from '../../plugin.ts';

export const utilization: ScorePlugin = {
  name: 'utilization',
  forClass({ ask, fleet, scoring }) {
    const { cpu, memoryBytes } = ask.resources;
    const sign = scoring === 'binpack' ? -1 : 1;
    const { capacityCpu, capacityMemory, freeCpu, freeMemory } = fleet;
    return [
      {
        score(h) {
          const c = capacityCpu[h]!;
          const m = capacityMemory[h]!;
          const cpuLeft = c > 0 ? (freeCpu[h]! - cpu) / c : 0;
          const memoryLeft = m > 0 ? (freeMemory[h]! - memoryBytes) / m : 0;
          return (sign * (cpuLeft + memoryLeft)) / 2;
        },
      },
    ];
  },
};
