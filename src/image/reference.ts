/**
 * Image references: "name[:tag]" (tag defaults to "latest") or "name@sha256:...". Names are
 * lowercase path components ("busybox", "team/api", "registry.local:5000/team/api").
 */
import { isDigest, type Digest } from './digest.ts';
import { ImageError } from './errors.ts';

export interface ImageReference {
  name: string;
  tag: string;
  digest?: Digest;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST = /^[a-zA-Z0-9.-]+(?::[0-9]+)?$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function validName(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  const parts = name.split('/');
  return parts.every((p, i) => COMPONENT.test(p) || (i === 0 && parts.length > 1 && HOST.test(p)));
}

export function parseReference(text: string): ImageReference {
  let rest = text.trim();
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw new ImageError('InvalidReference', `"${text}": bad digest`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag = 'latest';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  // Docker Hub's implicit prefixes are noise here: "docker.io/library/busybox" is "busybox".
  rest = rest.replace(/^docker\.io\/(library\/)?/, '');
  if (!validName(rest)) {
    throw new ImageError('InvalidReference', `"${text}" is not an image name (use name[:tag], lowercase)`);
  }
  if (!TAG.test(tag)) throw new ImageError('InvalidReference', `"${text}": bad tag "${tag}"`);
  return digest ? { name: rest, tag, digest } : { name: rest, tag };
}

/** "name:tag", the key images are listed under. */
export function canonicalName(ref: ImageReference): string {
  return `${ref.name}:${ref.tag}`;
}

export function normalizeReference(text: string): string {
  return canonicalName(parseReference(text));
}
