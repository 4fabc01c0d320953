/**
 * The one place @peculiar/x509 is loaded: it needs a Reflect metadata polyfill imported before it,
 * and is pointed at Node's WebCrypto.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

/** ECDSA on P-256 with SHA-256: the only key and signature algorithm Dabba issues or asks for. */
export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
