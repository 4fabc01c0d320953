/**
 * How declared ports reach a task, the same with every runtime: DABBA_PORT_<NAME> for each, PORT for
 * the first. (With oci, ports map to themselves: each task has its own address; with process, each
 * declared port gets a free host port.)
 */
import type { PortSpec } from '../model/index.ts';

/** "http" -> DABBA_PORT_HTTP, "admin-api" and "adminApi" -> DABBA_PORT_ADMIN_API. */
export function portEnvName(name: string): string {
  const snake = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase();
  return `DABBA_PORT_${snake}`;
}

/** The environment announcing the ports a task got (declared name -> port). */
export function portEnv(declared: PortSpec[], ports: Record<string, number>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of declared) {
    const port = ports[p.name];
    if (port === undefined) continue;
    env[portEnvName(p.name)] = String(port);
    env['PORT'] ??= String(port);
  }
  return env;
}
