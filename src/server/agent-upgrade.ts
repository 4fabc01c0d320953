/**
 * An HTTP/1.1 Upgrade request to an agent (the interactive exec), with the connection settings of
 * agent-connection.ts (undici's fetch does not do upgrades): at `target.base`, and over TLS with the
 * same CA, server certificate and host pin as fetch uses.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import type { AgentTarget } from './agent-connection.ts';

export type UpgradeResult =
  { upgraded: true; socket: Duplex; head: Buffer } | { upgraded: false; status: number; body: string };

const MAX_REFUSAL = 64 * 1024;

async function readRefusal(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const c of res as AsyncIterable<Buffer>) {
    if (text.length < MAX_REFUSAL) text += c.toString('utf8');
  }
  return text;
}

export function agentUpgrade(
  target: AgentTarget,
  path: string,
  protocol: string,
  signal: AbortSignal,
): Promise<UpgradeResult> {
  const url = new URL(path, target.base);
  const options = {
    method: 'POST',
    headers: { connection: 'Upgrade', upgrade: protocol },
    agent: false as const,
    signal,
  };
  return new Promise<UpgradeResult>((resolve, reject) => {
    const req =
      url.protocol === 'https:'
        ? httpsRequest(url, { ...options, ...(target.tls ?? {}) })
        : httpRequest(url, options);
    req.once('upgrade', (_res, socket, head) => resolve({ upgraded: true, socket, head }));
    req.once('response', (res) => {
      readRefusal(res).then(
        (body) => resolve({ upgraded: false, status: res.statusCode ?? 502, body }),
        reject,
      );
    });
    req.once('error', reject);
    req.end();
  });
}
