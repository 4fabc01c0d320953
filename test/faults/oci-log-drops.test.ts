/**
 * A real container's output on a full disk: the oci runtime's state dir is a small tmpfs; conmon
 * writes into the task's log pipe and the log writer appends to ctr.log. Filled up, the container
 * runs on, what could not be written is counted (bytes and lines, per stream, in a window), the log
 * stays one CRI record per line, and the count matches the lines missing from the log. With room
 * again the window closes and output goes on. A killed log writer is started again and nothing the
 * container wrote meanwhile is lost (conmon holds the pipe: no SIGPIPE, no drop); only the killed
 * writer's last read, not yet written, may be gone with it.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sleep } from '../../src/lib/index.ts';
import type { LogDrop } from '../../src/model/index.ts';
import { parseCriLine } from '../../src/runtime/oci/cri-log.ts';
import {
  busyboxSpec,
  ociAvailable,
  ociFixture,
  removeTestImages,
  reportUnavailable,
  taskId,
  type OciFixture,
} from '../oci/oci-fixture.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { Tmpfs } from '../helpers/tmpfs.ts';
import { writerPids } from '../helpers/log-writers.ts';

const avail = await ociAvailable();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

if (!avail.run) reportUnavailable(avail.reason);
else
  describe('container output on a full disk (oci, conmon through the log writer)', () => {
    let fx: OciFixture;
    let fs: Tmpfs;
    before(async () => {
      fx = await ociFixture();
      fs = await Tmpfs.mount('24m', fx.dir);
    });
    after(async () => {
      await fx.cleanup();
      await fs.destroy();
      await removeTestImages();
    });

    test(
      'drops are counted, the container runs on, output resumes; a killed writer loses at most its last read',
      {
        timeout: 180_000,
      },
      async () => {
        const rt = fx.runtime;
        const id = taskId('drops');
        // Numbered lines of ~100 bytes, as fast as the shell goes (with a short pause now and then).
        const script =
          'i=0; while :; do i=$((i+1)); echo "line $i ' +
          'x'.repeat(80) +
          '"; [ $((i % 50)) = 0 ] && usleep 20000; done';
        const handle = await rt.start({
          taskId: id,
          job: 'oci-drops',
          version: 1,
          spec: busyboxSpec(['sh', '-c', script]),
          env: { DABBA_TASK_ID: id },
        });
        try {
          const pid = handle.pid;
          const taskDir = join(fx.stateDir, 'tasks', id);
          const logText = (): Promise<string> => readFile(join(taskDir, 'ctr.log'), 'utf8');
          /** The numbers of the whole lines in the log (records joined into lines by the runtime). */
          const lineNumbers = async (): Promise<Set<number>> => {
            const out = new Set<number>();
            for await (const l of rt.logs(id)) {
              const m = /^line (\d+) x{80}$/.exec(l.text);
              if (m) out.add(Number(m[1]));
            }
            return out;
          };
          await waitFor('first lines', async () =>
            (await logText()).includes('line 100 ') ? true : undefined,
          );

          // conmon holds the pipe open for reading as well as for writing.
          const conmonPid = Number((await readFile(join(taskDir, 'conmon.pid'), 'utf8')).trim());
          const fds = await readdir(`/proc/${conmonPid}/fd`);
          const targets = await Promise.all(
            fds.map((fd) => readlink(`/proc/${conmonPid}/fd/${fd}`).catch(() => '')),
          );
          assert.ok(
            targets.filter((t) => t === join(taskDir, 'ctr.pipe')).length >= 2,
            `conmon holds ctr.pipe twice: ${targets.join(' ')}`,
          );

          // Full.
          await fs.fill('filler');
          const open = await waitFor(
            'an open window of drops',
            async () => {
              const d = await rt.logDrops(id);
              const w = d.find((x) => x.stream === 'stdout' && x.to === undefined && x.lines > 100);
              return w;
            },
            60_000,
          );
          assert.equal(open.reason, 'ENOSPC');
          assert.ok(alive(pid), 'the container runs on while its output is dropped');
          assert.ok(alive(conmonPid), 'conmon runs on');

          // Room again: the window closes, output goes on.
          await rm(join(fs.dir, 'filler'));
          const closed = await waitFor(
            'the window closed',
            async () => {
              const d = await rt.logDrops(id);
              return d.length > 0 && d.every((x) => x.to !== undefined) ? d : undefined;
            },
            60_000,
          );
          const before = (await logText()).length;
          await waitFor('output goes on', async () =>
            (await logText()).length > before + 10_000 ? true : undefined,
          );

          // The log is one CRI record per line, and the count matches what is missing.
          const text = await logText();
          const records = text.split('\n').filter((l) => l !== '');
          const bad = records.filter((l) => parseCriLine(l) === undefined);
          assert.deepEqual(bad.slice(0, 3), [], 'every line of ctr.log is a CRI record');
          const numbers = await lineNumbers();
          const max = Math.max(...numbers);
          const counted = await rt.logDrops(id);
          const lastClosed = closed.at(-1)!;
          const missing = [...Array(max).keys()].map((i) => i + 1).filter((n) => !numbers.has(n));
          const droppedLines = counted.filter((d) => d.stream === 'stdout').reduce((n, d) => n + d.lines, 0);
          const windows = counted.length;
          assert.ok(missing.length > 100, `lines are missing from the log (${missing.length})`);
          // A line split by conmon into two records (P then F) may lose one part: a few either way.
          assert.ok(
            Math.abs(droppedLines - missing.length) <= 2 * windows,
            `${droppedLines} lines counted as dropped, ${missing.length} missing from the log`,
          );
          assert.ok(lastClosed.bytes >= lastClosed.lines * 80, JSON.stringify(lastClosed));

          // A killed log writer: a new one is started (within seconds), and nothing is lost meanwhile.
          const writers = await writerPids(fx.stateDir);
          assert.equal(writers.length, 1, `one log writer (${writers.join(',')})`);
          process.kill(writers[0]!, 'SIGKILL');
          const killedAt = Math.max(...numbers);
          await sleep(1000);
          assert.ok(alive(conmonPid), 'conmon survives its reader being killed (no SIGPIPE)');
          await waitFor(
            'a new writer',
            async () => {
              const w = await writerPids(fx.stateDir);
              return w.length === 1 && w[0] !== writers[0] ? true : undefined;
            },
            30_000,
          );
          const seen = await waitFor(
            'output after the new writer',
            async () => {
              const s = await lineNumbers();
              return Math.max(...s) > killedAt + 2000 ? s : undefined;
            },
            60_000,
          );
          const lostAfterKill = [...Array(Math.max(...seen) - killedAt).keys()]
            .map((i) => killedAt + 1 + i)
            .filter((n) => !seen.has(n));
          // What waited in the pipe while no writer ran is all there. Only what the killed writer
          // had read and not yet written (one read of at most 64 KiB, ~125 bytes a record here)
          // may be gone: one run of lines, no more.
          const run = lostAfterKill.length === 0 ? 0 : lostAfterKill.at(-1)! - lostAfterKill[0]! + 1;
          assert.equal(run, lostAfterKill.length, `lost lines are one run: ${lostAfterKill.join(',')}`);
          assert.ok(
            lostAfterKill.length <= (64 * 1024) / 120,
            `at most one read lost with the killed writer: ${String(lostAfterKill.length)} lines`,
          );
          const after: LogDrop[] = await rt.logDrops(id);
          assert.equal(after.length, counted.length, 'no new drops');
          assert.ok(alive(pid), 'the container ran throughout');
        } finally {
          await rt.stop(id, 0);
          await rt.remove(id);
        }
      },
    );
  });
