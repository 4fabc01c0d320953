/**
 * A block of free TCP ports for a test's own listeners (a mesh proxy's): below Linux's ephemeral
 * range (32768-60999), so that no outgoing connection of another test takes one meanwhile, and
 * checked free on the address by binding each one before it is handed out.
 */
import { createServer } from 'node:net';

function free(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** The first port of `count` consecutive free ones on `host`, from 20000-32000. */
export async function freePortBlock(count: number, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await free(p, host);
    if (ok) return base;
  }
  throw new Error(`no block of ${String(count)} free ports found between 20000 and 32000`);
}
