/**
 * What a route needs, as data (see route-table.ts for which route needs what). Decided from the
 * principal and the request's namespace and path parameters alone: no store read.
 */
export type Permission =
  /** No credentials needed (health). */
  | 'open'
  /** Any authenticated principal (whoami). */
  | 'authenticated'
  /** Cluster-wide reads (hosts, images, servers): viewer, deployer or admin, whatever namespaces. */
  | 'cluster-read'
  /**
   * Cluster-wide reads that show what runs in every namespace (a host's processes and their command
   * lines): viewer, deployer or admin whose token covers all namespaces (`*`).
   */
  | 'cluster-wide-read'
  /** Reads in the request's namespace (`?namespace=`, default `default`; `*` for tokens covering all). */
  | 'namespace-read'
  /** Writes in the request's namespace: deployer or admin covering it. */
  | 'namespace-write'
  /** Image uploads (images are shared by every namespace): a deployer of any namespace, or admin. */
  | 'image-write'
  /** Image manifests and blobs: readers and hosts (agents pull images). */
  | 'image-fetch'
  /**
   * A config's content and versions (what agents fetch for their tasks): readers covering the
   * request's namespace, or any host (a host serves the configs of the tasks it runs).
   */
  | 'config-fetch'
  /** Tokens, namespaces and quotas, host cordon/drain, audit: admin. */
  | 'admin'
  /** Exchanging a join token for a host credential: agent (join) tokens, admin. */
  | 'join'
  /** Registering a host: that host's own principal (the handler checks the body's id), admin. */
  | 'host-register'
  /** Routes under /v1/hosts/:id for the host itself (heartbeat, its assignments): that host, admin. */
  | 'host-self'
  /** Only the host of `:id` itself (its certificate renewal): not even an admin. */
  | 'host-own'
  /** Task status: a host, for tasks assigned to it (the handler checks the body's host), admin. */
  | 'host-tasks'
  /** Time series from a host (metrics ingest): a host credential (its own series only), admin. */
  | 'host-ingest'
  /**
   * A batch forwarded by the server replica that received it, for its successor's copy store: the
   * agent's own credential (its own series only), a server replica's own credential (a viewer token
   * named `replica.ID`, for agents that authenticated by certificate), admin.
   */
  | 'metrics-copy'
  /** The store watch: admin any prefix; a host only its own assignments (/assign/HOST/). */
  | 'watch';

/** One line per permission, for docs and error messages. */
export const PERMISSION_HELP: Record<Permission, string> = {
  open: 'no token needed',
  authenticated: 'any valid token or host credential',
  'cluster-read': 'role viewer, deployer or admin',
  'cluster-wide-read': 'role viewer, deployer or admin covering every namespace (*)',
  'namespace-read': 'role viewer, deployer or admin covering the namespace',
  'namespace-write': 'role deployer or admin covering the namespace',
  'image-write': 'role deployer (any namespace) or admin',
  'image-fetch': 'role viewer, deployer or admin, or a host credential',
  'config-fetch': 'role viewer, deployer or admin covering the namespace, or a host credential',
  admin: 'role admin',
  join: 'an agent (join) token, or role admin',
  'host-register': "the host's own credential, or role admin",
  'host-self': "the host's own credential, or role admin",
  'host-own': 'the host itself (its current host certificate)',
  'host-tasks': 'a host credential (tasks assigned to that host), or role admin',
  'host-ingest': "a host credential (the batch's host must be that host), or role admin",
  'metrics-copy':
    "a host credential (the batch's host must be that host), a server replica's own credential, or role admin",
  watch: "role admin, or a host's credential for its own assignments",
};
