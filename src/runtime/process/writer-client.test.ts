/**
 * The log writer's life with the real writer process: a client that asks it to stay (`keep`, the
 * oci runtime's) keeps it while connected, idle or not, and it exits once that client is gone; a
 * client that does not ask (the process runtime's) does not keep an idle writer.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sleep } from '../../lib/index.ts';
import { WriterClient } from './writer-client.ts';
import { writerPids } from '../../../test/helpers/log-writers.ts';

/** Waits (generously) until `stateDir` has no writer; false if one is still there after 60 s. */
async function writerGone(stateDir: string): Promise<boolean> {
  for (let i = 0; i < 600; i++) {
    if ((await writerPids(stateDir)).length === 0) return true;
    await sleep(100);
  }
  return false;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

test('a client that asks to keep the writer keeps it while connected, idle; without, it exits', async (t) => {
  const kept = await mkdtemp(join(tmpdir(), 'dabba-writer-keep-'));
  const plain = await mkdtemp(join(tmpdir(), 'dabba-writer-plain-'));
  const keeping = new WriterClient(kept, { keep: true });
  const notKeeping = new WriterClient(plain);
  t.after(async () => {
    keeping.close();
    notKeeping.close();
    killAll([...(await writerPids(kept)), ...(await writerPids(plain))]);
    await rm(kept, { recursive: true, force: true });
    await rm(plain, { recursive: true, force: true });
  });

  await keeping.ensure();
  await notKeeping.ensure();
  const [writer] = await writerPids(kept);
  assert.ok(writer !== undefined, 'a writer for the keeping client');
  // Connected and shipping nothing: the plain client's writer exits by itself (a second idle).
  assert.equal(await writerGone(plain), true, 'the writer of a client that did not ask to keep it exits');
  // The kept one is the same process, well past that second.
  await sleep(3000);
  assert.deepEqual(await writerPids(kept), [writer], 'the kept writer is still the same process');
  // The keeping client gone: its writer exits too.
  keeping.close();
  assert.equal(await writerGone(kept), true, 'the kept writer exits once its client is gone');
});
