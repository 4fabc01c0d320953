/** ECDSA P-256 key pairs as PEM (PKCS#8 private, SPKI public), and their WebCrypto forms for signing. */
import { createHash, createPrivateKey, createPublicKey, generateKeyPair as genKeyPair } from 'node:crypto';
import type { webcrypto } from 'node:crypto';
import { promisify } from 'node:util';
import { DabbaError } from '../errors/index.ts';
import { EC_ALGORITHM } from './setup.ts';

const generate = promisify(genKeyPair);

export interface KeyPairPem {
  /** PKCS#8 PEM: keep it secret (files 0600). */
  privateKeyPem: string;
  /** SPKI PEM. */
  publicKeyPem: string;
}

export async function generateKeyPair(): Promise<KeyPairPem> {
  const { privateKey, publicKey } = await generate('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** The WebCrypto key pair of a PEM private key (the public half derived from it), for signing. */
export function signingKeys(privateKeyPem: string, what = 'private key'): webcrypto.CryptoKeyPair {
  let priv;
  try {
    priv = createPrivateKey(privateKeyPem);
  } catch (cause) {
    throw new DabbaError('DABBA_E_BAD_REQUEST', `the ${what} is not a PEM private key`, { cause });
  }
  if (priv.asymmetricKeyType !== 'ec' || priv.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new DabbaError('DABBA_E_BAD_REQUEST', `the ${what} must be an ECDSA P-256 key`);
  }
  const pub = createPublicKey(priv);
  return {
    privateKey: priv.toCryptoKey(EC_ALGORITHM, false, ['sign']),
    publicKey: pub.toCryptoKey(EC_ALGORITHM, true, ['verify']),
  };
}

/**
 * The pin of a public key: `sha256:` and the hex SHA-256 of its DER SubjectPublicKeyInfo (the form
 * kubeadm uses for `--discovery-token-ca-cert-hash`). Takes a public key, private key or certificate PEM.
 */
export function publicKeyPin(pem: string): string {
  const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}
