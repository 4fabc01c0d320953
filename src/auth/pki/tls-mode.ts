/** When the API serves HTTPS: beyond loopback always; on loopback only when asked. */
import { isIP } from 'node:net';

export type TlsMode = 'auto' | 'on' | 'off';

/** 127.0.0.0/8, ::1 (and its IPv4-mapped forms), localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.replace(/^::ffff:/, '');
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** `auto`: HTTPS unless the listen host is loopback. `off` beyond loopback is refused by the caller. */
export function servesTls(mode: TlsMode, listenHost: string): boolean {
  return mode === 'on' || (mode === 'auto' && !isLoopbackHost(listenHost));
}
