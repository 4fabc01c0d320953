/**
 * `GET /v1/mesh/stats` on the agent's endpoint: this host's proxy's stats now (see
 * mesh/host/stats.ts); the server asks every host and adds them up (`dabba mesh stats`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HostMeshStats } from '../model/index.ts';
import { fail, send } from './endpoint-respond.ts';

/** Undefined: this host runs no proxy (yet). */
export type MeshStatsQuery = () => Promise<HostMeshStats | undefined>;

export async function serveMeshStats(
  stats: MeshStatsQuery | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (req.method !== 'GET')
    return fail(res, 405, 'DABBA_E_METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed here`);
  if (!stats) return fail(res, 404, 'DABBA_E_NOT_FOUND', 'this agent runs no mesh proxy (--mesh-ports)');
  let s: HostMeshStats | undefined;
  try {
    s = await stats();
  } catch (e) {
    return fail(res, 503, 'DABBA_E_UNAVAILABLE', `the mesh proxy did not answer: ${(e as Error).message}`);
  }
  if (!s)
    return fail(res, 404, 'DABBA_E_NOT_FOUND', 'the mesh proxy is not running here (no dependency file yet)');
  send(res, 200, s);
}
