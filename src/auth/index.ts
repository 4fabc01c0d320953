/** Who may do what: the cluster PKI (CA, certificates, host identity). */
export * from './pki/index.ts';
