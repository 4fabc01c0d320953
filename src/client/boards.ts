/**
 * Dashboards kept in the control plane (`/v1/boards`, docs/ui.md). Built by DabbaClient.boards()
 * over its failover transport, namespaced as the client is.
 */
import type { Board, PutBoardRequest } from '../model/index.ts';

/** What DabbaClient lends: a JSON request in the client's namespace. */
export type BoardTransport = <T>(method: string, path: string, body?: unknown) => Promise<T>;

export interface BoardApi {
  list(): Promise<Board[]>;
  get(name: string): Promise<Board>;
  /** Creates or replaces; with `version`, refused (DABBA_E_CONFLICT) if the board moved on. */
  put(name: string, board: PutBoardRequest): Promise<Board>;
  remove(name: string): Promise<{ name: string; namespace: string; deleted: true }>;
}

const seg = (name: string): string => `/v1/boards/${encodeURIComponent(name)}`;

export function boardApi(send: BoardTransport): BoardApi {
  return {
    list: () => send('GET', '/v1/boards'),
    get: (name) => send('GET', seg(name)),
    put: (name, board) => send('PUT', seg(name), board),
    remove: (name) => send('DELETE', seg(name)),
  };
}
