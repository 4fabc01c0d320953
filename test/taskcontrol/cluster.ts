/**
 * A real server (SQLite store, scheduler loop) with four in-process agents on two racks on the fake
 * runtime, for the TaskControl tests. `close()` stops agents (their tasks too), controllers and the
 * server, even after a failure.
 */
import { join } from 'node:path';
import { startAgent } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { FakeRuntime } from '../../src/runtime/fake/index.ts';
import type { ControllerServer } from '../../src/sdk/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';

export const HOSTS = [
  { id: 'tc-h1', rack: 'r1' },
  { id: 'tc-h2', rack: 'r1' },
  { id: 'tc-h3', rack: 'r2' },
  { id: 'tc-h4', rack: 'r2' },
];

export interface FakeCluster {
  t: TestServer;
  /** Closes an agent (a host dies); keyed by host id. */
  agents: Map<string, () => Promise<void>>;
  controllers: ControllerServer[];
  close(): Promise<void>;
}

export async function startFakeCluster(prefix: string): Promise<FakeCluster> {
  const t = await startTestServer(prefix, { hostTtlSeconds: 3 });
  const agents = new Map<string, () => Promise<void>>();
  const controllers: ControllerServer[] = [];
  const close = async (): Promise<void> => {
    for (const c of controllers) await c.close().catch(() => undefined);
    for (const stop of agents.values()) await stop().catch(() => undefined);
    await t.close();
  };
  try {
    for (const h of HOSTS) {
      const a = await startAgent({
        client: t.client,
        runtime: new FakeRuntime(),
        hostId: h.id,
        labels: { rack: h.rack },
        dataDir: join(t.dir, h.id),
        logger: silentLogger,
        capacity: { cpu: 4, memoryBytes: 8 * 2 ** 30, pids: 4096 },
      });
      agents.set(h.id, () => a.close({ stopTasks: true }));
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { t, agents, controllers, close };
}
