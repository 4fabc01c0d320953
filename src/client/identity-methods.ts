/**
 * The API client's identity methods: who am I, tokens, namespaces and quotas, the audit log.
 * One link of the chain of classes DabbaClient is built from (see client.ts).
 */
import type {
  NamespaceView,
  AuditRecord,
  CreatedToken,
  QuotaChange,
  TokenListEntry,
} from '../model/index.ts';
import { HostMethods } from './host-methods.ts';

export class IdentityMethods extends HostMethods {
  // Identity, namespaces, audit
  whoami(): Promise<{
    kind: string;
    name?: string;
    role?: string;
    hostId?: string;
    namespaces?: string[] | '*';
  }> {
    return this.requestJson('GET', '/v1/whoami');
  }
  createToken(req: {
    name: string;
    role: string;
    namespaces?: string[] | '*';
    ttl?: string;
  }): Promise<CreatedToken> {
    return this.requestJson('POST', '/v1/tokens', { body: req });
  }
  listTokens(): Promise<TokenListEntry[]> {
    return this.requestJson('GET', '/v1/tokens');
  }
  revokeToken(name: string): Promise<{ name: string; revoked: boolean }> {
    return this.requestJson('DELETE', `/v1/tokens/${encodeURIComponent(name)}`);
  }
  createNamespace(name: string, quota: QuotaChange = {}): Promise<NamespaceView> {
    return this.requestJson('POST', '/v1/namespaces', { body: { name, quota } });
  }
  listNamespaces(): Promise<NamespaceView[]> {
    return this.requestJson('GET', '/v1/namespaces');
  }
  setQuota(name: string, quota: QuotaChange): Promise<NamespaceView> {
    return this.requestJson('PUT', `/v1/namespaces/${encodeURIComponent(name)}/quota`, { body: quota });
  }
  audit(since?: number): Promise<AuditRecord[]> {
    return this.requestJson('GET', `/v1/audit${since === undefined ? '' : `?since=${since}`}`);
  }
}
