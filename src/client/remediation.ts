/**
 * The remediation API (`dabba remediation`, docs/remediation.md). Built by DabbaClient.remediation()
 * over its failover transport.
 */
import type { RemediationRecord, RemediationRulesView } from '../model/index.ts';
import { parseResponse } from './responses.ts';

/** What DabbaClient lends: a JSON request and its raw response. */
export type RemediationTransport = (
  method: string,
  path: string,
  opts: { body?: unknown },
) => Promise<Response>;

export interface RemediationApi {
  /** The rules in force (`rules` null before any were applied). */
  rules(): Promise<RemediationRulesView>;
  /** Stores a rules file (its parsed YAML value) as a new version. */
  apply(file: unknown, message: string): Promise<RemediationRulesView>;
  /** The log, oldest first; `since` in ms since the epoch. */
  log(since?: number): Promise<RemediationRecord[]>;
}

export function remediationApi(send: RemediationTransport): RemediationApi {
  const json = async <T>(method: string, path: string, body?: unknown): Promise<T> =>
    (await parseResponse(await send(method, path, body === undefined ? {} : { body }))) as T;
  return {
    rules: () => json('GET', '/v1/remediation'),
    apply: (file, message) => json('PUT', '/v1/remediation', { file, message }),
    log: (since) => json('GET', `/v1/remediation/log${since === undefined ? '' : `?since=${String(since)}`}`),
  };
}
