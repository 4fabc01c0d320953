/**
 * Configs (`dabba config`, docs/config.md): named, versioned files under paths like
 * `feed/ranking.json`, per namespace. These are the wire shapes the server, the client, the CLI and
 * the agent share; the store keys are in keys.ts.
 */

import type { ConfigPropagation, ConfigTreeView } from './configdist.ts';

/** How a config's content is checked before it is stored (by its path's extension). */
export type ConfigFormat = 'json' | 'yaml' | 'text';

/** One stored version of a config: what `history` lists and the agent receives. */
export interface ConfigVersion {
  namespace: string;
  path: string;
  /** 1, 2, 3... per path. */
  version: number;
  /** `sha256:HEX` of the content. */
  digest: string;
  size: number;
  format: ConfigFormat;
  /** The authenticated principal that stored it (a token's name). */
  author: string;
  message: string;
  /** Epoch ms. */
  at: number;
  /** Set on a version stored by `revert`: the version whose content it brought back. */
  revertOf?: number;
}

/** `PUT /v1/configs/:path`: the new version, or the latest one unchanged when the content is the same. */
export interface PutConfigResult {
  config: ConfigVersion;
  /** False when the content equals the latest version's: nothing was stored. */
  changed: boolean;
}

/** What a host reports it has of a config (`dabba config status`). */
export interface ConfigHostState {
  host: string;
  version: number;
  digest: string;
  /** Epoch ms at which the host had the version on disk. */
  at: number;
}

export interface ConfigStatusView {
  latest: ConfigVersion;
  hosts: ConfigHostState[];
  /** How the latest version reached the hosts. */
  propagation?: ConfigPropagation;
  /** The distribution tree of the config's shard, when the answering replica owns it. */
  tree?: ConfigTreeView;
}

/** The most bytes a config may hold. */
export const CONFIG_MAX_BYTES = 128 * 1024 * 1024;

/** The config holding the JSON Schema that every JSON/YAML config under its folder must satisfy. */
export const CONFIG_SCHEMA_NAME = '_schema.json';

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * Why `path` is not a config path, or undefined if it is one: segments of letters, digits, `.`, `_`
 * and `-` (not starting with `.` or `-`) separated by single `/`, at most 512 characters.
 */
export function configPathProblem(path: string): string | undefined {
  if (path.length === 0) return 'a config path is not empty';
  if (path.length > 512) return 'a config path has at most 512 characters';
  if (path.startsWith('/') || path.endsWith('/'))
    return 'a config path neither starts nor ends with "/" (e.g. app/settings.json)';
  for (const seg of path.split('/')) {
    if (!SEGMENT.test(seg))
      return `"${seg}" is not a valid path segment: letters, digits, ".", "_" and "-", not starting with "." or "-"`;
  }
  return undefined;
}

/** The format a config's path implies: `.json` JSON, `.yaml`/`.yml` YAML, anything else text. */
export function configFormatOf(path: string): ConfigFormat {
  if (path.endsWith('.json')) return 'json';
  if (path.endsWith('.yaml') || path.endsWith('.yml')) return 'yaml';
  return 'text';
}

/** The schema configs that apply to `path`: `_schema.json` of each enclosing folder, outermost first. */
export function schemaPathsFor(path: string): string[] {
  const segs = path.split('/');
  const out: string[] = [];
  for (let i = 0; i < segs.length - 1; i++) {
    const p = `${segs.slice(0, i + 1).join('/')}/${CONFIG_SCHEMA_NAME}`;
    if (p !== path) out.push(p);
  }
  return out;
}
