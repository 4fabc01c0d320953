import { createHash } from 'node:crypto';
import { resolve } from 'node:path';

/** The log writer's socket for a state dir: in the abstract namespace (no file on the disk). */
export function writerSocketName(stateDir: string): string {
  const h = createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 24);
  return `\0dabba-log-writer-${h}`;
}
