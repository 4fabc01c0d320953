/**
 * Commands from the control plane to this agent (model/host-command.ts), seen the way assignments
 * are: listed (`GET /v1/hosts/ID/commands`), then watched (/hostcmds/ID/) from the revision read;
 * the watch ending lists again. Each command is carried out once and answered in its record:
 * `restart-runtime` sets the runtime up on the host again and re-adopts the running tasks without
 * stopping them (Runtime.restart), then runs the runtime's self-check at once so a RuntimeBroken
 * condition clears with the next heartbeat.
 */
import type { DabbaClient } from '../client/index.ts';
import { messageOf } from '../errors/index.ts';
import { backoffDelay, sleep, type Logger } from '../lib/index.ts';
import { keys, type HostCommand } from '../model/index.ts';
import type { Runtime } from '../runtime/index.ts';

export interface HostCommandsOptions {
  client: DabbaClient;
  hostId: string;
  runtime: Pick<Runtime, 'name' | 'restart'>;
  logger: Logger;
  /** Runs the runtime's self-check now (after a restart). */
  checkRuntime: () => Promise<void>;
}

/** Carries out one command; what to answer. */
async function carryOut(o: HostCommandsOptions, c: HostCommand): Promise<{ ok: boolean; detail: string }> {
  if (c.action !== 'restart-runtime') return { ok: false, detail: `unknown command ${String(c.action)}` };
  if (o.runtime.restart === undefined)
    return { ok: false, detail: `the ${o.runtime.name} runtime cannot be restarted in place` };
  o.logger.warn({ command: c.id, reason: c.reason }, 'restarting the runtime');
  try {
    const detail = await o.runtime.restart();
    await o.checkRuntime();
    o.logger.info({ command: c.id, detail }, 'runtime restarted');
    return { ok: true, detail };
  } catch (e) {
    o.logger.error({ command: c.id, err: messageOf(e) }, 'runtime restart failed');
    return { ok: false, detail: messageOf(e) };
  }
}

export async function runHostCommands(o: HostCommandsOptions, signal: AbortSignal): Promise<void> {
  const seen = new Set<string>();
  // One command at a time, in the order seen.
  let queue = Promise.resolve();
  const handle = (c: HostCommand): void => {
    if (c.result !== undefined || seen.has(c.id)) return;
    seen.add(c.id);
    queue = queue.then(async () => {
      const answer = await carryOut(o, c);
      await o.client.answerHostCommand(o.hostId, c.id, answer).catch((e: unknown) => {
        // The server withdrew it (it waited too long) or is away: it reads a missing answer as failed.
        o.logger.warn({ command: c.id, err: messageOf(e) }, 'could not answer a command');
      });
    });
  };
  const prefix = keys.hostCommandsPrefix(o.hostId);
  let failures = 0;
  while (!signal.aborted) {
    try {
      const { revision, commands } = await o.client.hostCommands(o.hostId);
      failures = 0;
      for (const c of commands) handle(c);
      for await (const batch of o.client.watch(prefix, revision + 1, signal)) {
        for (const e of batch) if (e.type === 'put') handle(e.value as HostCommand);
      }
    } catch (e) {
      if (signal.aborted) break;
      o.logger.warn({ err: messageOf(e) }, 'command watch ended; listing again');
      await sleep(backoffDelay(failures++, { initialMs: 1000, maxMs: 30_000 }), signal);
    }
  }
  await queue;
}
