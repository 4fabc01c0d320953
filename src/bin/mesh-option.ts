/**
 * The agent's mesh proxy, from `--mesh-ports`: where its listeners go and, with containers, where
 * tasks reach it (their bridge's gateway) and which of the host's ports the bridge's firewall
 * lets them reach (docs/mesh.md).
 */
import type { Logger } from '../lib/index.ts';
import { taskPortRange } from '../mesh/host/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { OciRuntime } from '../runtime/oci/index.ts';

/** The ports of the proxy's callers' listeners containers may reach (for the oci runtime's firewall). */
export function proxyPortsFor(portBase: number | undefined): { proxyPorts?: { from: number; to: number } } {
  return portBase === undefined ? {} : { proxyPorts: taskPortRange(portBase) };
}

/**
 * The agent's `mesh` option: the proxy's listeners on `advertise` (loopback by default) from
 * `portBase`; containers reach the callers' listeners at their bridge's gateway.
 */
export function meshOption(
  portBase: number | undefined,
  runtime: Runtime,
  advertise: string | undefined,
  logger: Logger,
): { mesh?: { address: string; portBase: number; taskAddress?: () => Promise<string> } } {
  if (portBase === undefined) return {};
  const address = advertise ?? '127.0.0.1';
  if (runtime instanceof OciRuntime) {
    const taskAddress = async (): Promise<string> => (await runtime.network()).subnet.gateway;
    return { mesh: { address, portBase, taskAddress } };
  }
  if (runtime.name !== 'process') {
    logger.warn({ runtime: runtime.name }, 'the mesh proxy does not run with this runtime; left off');
    return {};
  }
  return { mesh: { address, portBase } };
}
