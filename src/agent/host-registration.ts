/**
 * The host's registration with the server and its heartbeats (with the host's conditions), which
 * register again when the server has lost the lease.
 */
import type { DabbaClient } from '../client/index.ts';
import { DabbaError, messageOf } from '../errors/index.ts';
import type { Logger } from '../lib/index.ts';
import { backoffDelay, sleep } from '../lib/index.ts';
import type { HostCapacity } from '../model/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { ClockSkew } from './clock-skew.ts';
import type { DiskConditions } from './disk-conditions.ts';
import type { AgentEndpoint } from './endpoint.ts';
import type { RuntimeHealth } from './runtime-health.ts';
import type { VolumeSupport } from './volumes.ts';

export interface HostRegistration {
  /** Registers (retrying until it works or the agent stops); answers the heartbeat interval (ms). */
  register(): Promise<number>;
  /** Heartbeats every interval until the agent stops, registering again when the lease is lost. */
  heartbeats(initialMs: number): Promise<void>;
  /** Whether the runtime gives tasks addresses (oci), so the host asks for a range of the task network. */
  wantSubnet: boolean;
  /** The host's range of the task network, from the first registration that gave one. */
  network(): { subnet: string; taskNetwork?: string } | undefined;
}

export function hostRegistration(
  o: { client: DabbaClient; runtime: Runtime; hostId: string; labels: Record<string, string> },
  p: {
    capacity: HostCapacity;
    endpoint: AgentEndpoint;
    volumeSupport: VolumeSupport;
    disk: DiskConditions;
    runtimeHealth: RuntimeHealth;
    logger: Logger;
    signal: AbortSignal;
  },
): HostRegistration {
  const { capacity, endpoint, volumeSupport, disk, runtimeHealth, logger, signal } = p;
  let lease = 0;
  // A runtime that gives tasks addresses (oci) takes the host's range of the task network.
  const wantSubnet = o.runtime.useNetwork !== undefined;
  let network: { subnet: string; taskNetwork?: string } | undefined;

  async function register(): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await o.client.registerHost({
          id: o.hostId,
          labels: o.labels,
          capacity,
          runtime: o.runtime.name,
          agentUrl: endpoint.url,
          ...(wantSubnet ? { wantSubnet: true } : {}),
          ...(o.runtime.seccomp === undefined ? {} : { seccomp: o.runtime.seccomp }),
          volumes: volumeSupport,
        });
        lease = r.lease;
        if (r.subnet !== undefined && network === undefined) {
          network = {
            subnet: r.subnet,
            ...(r.taskNetwork === undefined ? {} : { taskNetwork: r.taskNetwork }),
          };
        } else if (r.subnet !== undefined && r.subnet !== network?.subnet) {
          // The server keeps a host's range; a different one means the host record was replaced.
          logger.error(
            { subnet: r.subnet, inUse: network?.subnet },
            'the server gave this host another task range; the one in use stays until the agent restarts',
          );
        }
        logger.info({ host: o.hostId, lease: r.lease, subnet: r.subnet }, 'registered');
        return r.heartbeatMs;
      } catch (e) {
        if (signal.aborted) return 1000;
        // Not worth retrying: a bad registration, or a task network with no range left.
        if (e instanceof DabbaError && (e.code === 'DABBA_E_VALIDATION' || e.code === 'DABBA_E_NETWORK_FULL'))
          throw e;
        logger.warn({ err: messageOf(e) }, 'registration failed; retrying');
        await sleep(backoffDelay(attempt, { initialMs: 250, maxMs: 5000 }), signal);
      }
    }
  }

  const skew = new ClockSkew();
  async function heartbeats(initialMs: number): Promise<void> {
    let every = initialMs;
    while (!signal.aborted) {
      await sleep(every, signal);
      if (signal.aborted) return;
      try {
        const sentAt = skew.now();
        // The answer carries the server's time (hosts route), beyond the client's declared type.
        const r = (await o.client.heartbeat(o.hostId, lease, [
          ...disk.conditions(),
          ...skew.conditions(),
          ...runtimeHealth.conditions(),
        ])) as { ok: true; serverTime?: number };
        skew.observe(sentAt, skew.now(), r.serverTime);
      } catch (e) {
        if (signal.aborted) return;
        if (
          e instanceof DabbaError &&
          (e.code === 'DABBA_E_LEASE_NOT_FOUND' || e.code === 'DABBA_E_NOT_FOUND')
        ) {
          logger.warn('lease lost; registering again');
          every = await register();
        } else {
          logger.warn({ err: messageOf(e) }, 'heartbeat failed');
        }
      }
    }
  }

  return { register, heartbeats, wantSubnet, network: () => network };
}
