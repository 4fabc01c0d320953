/** Server addresses as users give them: `HOST:PORT`, URLs, comma-separated lists. */
import { DabbaError } from '../errors/index.ts';

/** Without a scheme: plain HTTP on loopback, HTTPS beyond it (where servers always serve HTTPS). */
function defaultScheme(hostPort: string): 'http' | 'https' {
  const host = hostPort
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '')
    .toLowerCase();
  return host === 'localhost' || host === '::1' || host.startsWith('127.') ? 'http' : 'https';
}

export function parseAddrs(addr: string | string[]): string[] {
  const list = (Array.isArray(addr) ? addr : addr.split(','))
    .map((a) => a.trim())
    .filter((a) => a !== '')
    .map((a) => (/^https?:\/\//.test(a) ? a : `${defaultScheme(a)}://${a}`).replace(/\/+$/, ''));
  if (list.length === 0) throw new DabbaError('DABBA_E_BAD_REQUEST', 'no server address given');
  for (const a of list) {
    try {
      new URL(a);
    } catch (cause) {
      throw new DabbaError('DABBA_E_BAD_REQUEST', `"${a}" is not a valid server address (use HOST:PORT)`, {
        cause,
      });
    }
  }
  return list;
}
