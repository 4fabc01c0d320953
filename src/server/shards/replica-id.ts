import { hostname } from 'node:os';
import { shortId } from '../../lib/index.ts';

/** hostname-pid-random: unique per process, so a restarted replica joins as a newcomer. */
export function defaultReplicaId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9.-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 100) || 'server';
  return `${host}-${process.pid}-${shortId(4)}`;
}
