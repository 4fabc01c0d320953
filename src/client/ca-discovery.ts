/**
 * Fetching the cluster CA from a server before trusting it, checked against a pin given out of band
 * (with the join token), as kubeadm's `--discovery-token-ca-cert-hash` does. This request alone does
 * not verify the server's certificate: nothing secret is sent, and the answer is accepted only if the
 * CA's public key matches the pin. Everything after it verifies the server against that CA.
 */
import { DabbaError } from '../errors/index.ts';
import type { ClusterCaView } from '../model/index.ts';
import { certificatePin, withDispatcher } from './tls.ts';
import { undici } from './undici.ts';

export const PIN_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** The CA certificate (PEM) of the server at `addr`, if its public key matches `pin`. */
export async function fetchPinnedCa(addr: string, pin: string, timeoutMs = 10_000): Promise<string> {
  if (!PIN_PATTERN.test(pin))
    throw new DabbaError('DABBA_E_BAD_REQUEST', `CA pin "${pin}" is not sha256:<64 hex digits>`);
  const base = addr.replace(/\/+$/, '');
  const dispatcher = new (undici().Agent)({ connect: { rejectUnauthorized: false } });
  try {
    let view: ClusterCaView;
    try {
      const res = await fetch(
        `${base}/v1/ca`,
        withDispatcher({ signal: AbortSignal.timeout(timeoutMs) }, dispatcher),
      );
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      view = (await res.json()) as ClusterCaView;
    } catch (cause) {
      throw new DabbaError('DABBA_E_UNAVAILABLE', `cannot fetch the cluster CA from ${base}/v1/ca`, {
        cause,
      });
    }
    let actual: string;
    try {
      actual = certificatePin(view.cert);
    } catch (cause) {
      throw new DabbaError('DABBA_E_TLS', `${base}/v1/ca did not answer a certificate`, { cause });
    }
    if (actual !== pin)
      throw new DabbaError(
        'DABBA_E_TLS',
        `the CA of ${base} (${actual}) is not the pinned one (${pin}): wrong server, or someone in between`,
        { details: { expected: pin, actual } },
      );
    return view.cert;
  } finally {
    await dispatcher.close();
  }
}
