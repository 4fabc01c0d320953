/** Who may do what: identity (tokens, host certificates), authorization, namespaces, audit, the cluster PKI. */
export * from './principal.ts';
export * from './authn/authenticate.ts';
export * from './authn/certificate.ts';
export * from './authz/authorize.ts';
export * from './authz/permissions.ts';
export * from './authz/route-table.ts';
export * from './tokens/token-format.ts';
export * from './tokens/token-record.ts';
export * from './tokens/token-store.ts';
export * from './tokens/token-cache.ts';
export * from './tokens/token-sweeper.ts';
export * from './namespaces/namespaces.ts';
export * from './namespaces/quota.ts';
export * from './audit/audit-log.ts';
export * from './pki/index.ts';
