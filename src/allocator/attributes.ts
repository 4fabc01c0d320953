/**
 * Host attributes as constraints and spread rules see them: the host's labels, plus two
 * pseudo-attributes that every host has: `host.id` and `host.runtime` (they take precedence over
 * labels of the same name).
 */
import type { HostView } from '../model/index.ts';

export const PSEUDO_ATTRIBUTES = ['host.id', 'host.runtime'] as const;

/** The value of `attribute` on `host`, or undefined when the host does not have it. */
export function attributeOf(host: HostView, attribute: string): string | undefined {
  if (attribute === 'host.id') return host.id;
  if (attribute === 'host.runtime') return host.runtime;
  // Own properties only: a label named "constructor" must not find Object's.
  return Object.hasOwn(host.labels, attribute) ? host.labels[attribute] : undefined;
}
