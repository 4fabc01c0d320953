import { createHash } from 'node:crypto';
import { resolve } from 'node:path';

/** The log shipper's socket for a state dir: in the abstract namespace (no file on the disk). */
export function shipperSocketName(stateDir: string): string {
  const h = createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 24);
  return `\0dabba-log-shipper-${h}`;
}
