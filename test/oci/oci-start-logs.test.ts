/**
 * A container's start does not wait for the log writer once the writer has answered (it exits
 * when idle and takes a Node start-up to come back): the output of a container that prints and
 * exits at once, started while no writer runs, waits in its pipe (held by the runtime until the
 * writer has it) and is in its log (read right after it ended), and in the previous run's log after
 * a restart in place.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OciRuntime } from '../../src/runtime/oci/index.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { writerPids } from '../helpers/log-writers.ts';
import {
  busyboxSpec,
  ociAvailable,
  ociFixture,
  removeTestImages,
  reportUnavailable,
  taskId,
  type OciFixture,
} from './oci-fixture.ts';

const avail = await ociAvailable('crun');

async function logText(rt: OciRuntime, id: string, previous = false): Promise<string> {
  const lines: string[] = [];
  for await (const l of rt.logs(id, { previous })) lines.push(l.text);
  return lines.join('\n');
}

if (!avail.run) reportUnavailable(avail.reason);
else
  describe('oci start and the log writer', () => {
    let fx: OciFixture;
    before(async () => {
      fx = await ociFixture({ ociRuntime: 'crun' });
    });
    after(async () => {
      await fx.cleanup();
      await removeTestImages();
    });

    test(
      'output of a container that exits at once, started with no writer running, is kept',
      { timeout: 120_000 },
      async () => {
        const rt = fx.runtime;
        const first = taskId('first');
        const quick = taskId('quick');
        try {
          // The first start waits for the writer (it has not answered yet).
          await rt.start({
            taskId: first,
            job: 'ologs',
            version: 1,
            spec: busyboxSpec(['echo', 'first line']),
            env: {},
          });
          assert.equal((await rt.wait(first)).exitCode, 0);
          await waitFor(
            'the first log',
            async () => ((await logText(rt, first)).includes('first line') ? true : undefined),
            30_000,
          );
          await rt.remove(first);

          // No writer: the next start asks for one and goes on without waiting.
          for (const pid of await writerPids(fx.stateDir)) process.kill(pid, 'SIGKILL');
          await waitFor(
            'no writer',
            async () => ((await writerPids(fx.stateDir)).length === 0 ? true : undefined),
            30_000,
          );
          const word = `quick-${taskId('w')}`;
          await rt.start({
            taskId: quick,
            job: 'ologs',
            version: 1,
            spec: busyboxSpec(['sh', '-c', `echo ${word}; exit 3`]),
            env: {},
          });
          assert.equal((await rt.wait(quick)).exitCode, 3);
          // Read as soon as it ended: the read waits for the writer to have written it all.
          assert.match(await logText(rt, quick), new RegExp(word));
          // A restart in place keeps the log as the previous run's, after the writer wrote it all.
          await rt.remove(quick, { restarting: true });
          assert.match(await logText(rt, quick, true), new RegExp(word));
        } finally {
          await rt.stop(first, 0).catch(() => undefined);
          await rt.remove(first).catch(() => undefined);
          await rt.stop(quick, 0).catch(() => undefined);
          await rt.remove(quick).catch(() => undefined);
        }
        assert.deepEqual(await fx.leftovers([first, quick]), []);
      },
    );
  });
