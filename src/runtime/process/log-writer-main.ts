/**
 * The log writer's process (log-writer.ts): `node log-writer-main.ts STATE_DIR`, started detached
 * by the process runtime (and by the oci runtime for conmon's output). Takes the runtime's socket (if another writer holds it, exits: there is
 * one per state dir), ships again every task whose pipes it finds (after a writer was killed), and
 * exits once it ships nothing and no connection asked to keep it (`keep`: the oci runtime's).
 */
import { readdir } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { LogWriter, TASK_ID } from './log-writer.ts';
import { writerSocketName } from './writer-socket.ts';

const IDLE_EXIT_MS = 1000;

const stateDir = process.argv[2];
if (stateDir === undefined) {
  process.stderr.write('usage: log-writer-main.ts STATE_DIR\n');
  process.exit(2);
}
const tasksDir = join(stateDir, 'tasks');
const writer = new LogWriter(tasksDir);
/** Requests being answered, and the first scan: work that keeps the process. */
let pending = 1;
/** Connections that asked to keep the writer (`keep`: the oci runtime's, while it runs). */
const keepers = new Set<Socket>();

function serve(sock: Socket): void {
  sock.on('error', () => undefined);
  let buf = '';
  sock.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let req: { id?: unknown; op?: unknown; task?: unknown; maxBytes?: unknown };
      try {
        req = JSON.parse(line) as typeof req;
      } catch {
        continue;
      }
      const { id, op, task, maxBytes } = req;
      if (op === 'keep') {
        // No answer: the writer stays while this connection is open.
        keepers.add(sock);
        sock.once('close', () => keepers.delete(sock));
        continue;
      }
      if (typeof task !== 'string' || !TASK_ID.test(task)) {
        sock.write(`${JSON.stringify({ id, error: 'invalid task id' })}\n`);
        continue;
      }
      pending++;
      // After the first scan: a watch then knows every task whose pipes were found.
      const max = typeof maxBytes === 'number' && maxBytes > 0 ? maxBytes : undefined;
      const done = scanned.then(() =>
        op === 'open'
          ? writer.open(task)
          : op === 'open-cri'
            ? writer.openCri(task, max)
            : writer.watch(task),
      );
      void done.finally(() => pending--).catch(() => undefined);
      done.then(
        () => sock.writable && sock.write(`${JSON.stringify({ id, ok: true })}\n`),
        (e: unknown) => sock.writable && sock.write(`${JSON.stringify({ id, error: String(e) })}\n`),
      );
    }
  });
}

const server = createServer(serve);
server.on('error', (e: NodeJS.ErrnoException) => {
  // Another writer serves this state dir already.
  process.exit(e.code === 'EADDRINUSE' ? 0 : 1);
});
let scanned!: Promise<void>;
server.listen(writerSocketName(stateDir), () => {
  scanned = (async () => {
    for (const name of await readdir(tasksDir).catch(() => [] as string[])) {
      if (!TASK_ID.test(name)) continue;
      // A process task's two pipes, or a container's one (cri-records.ts).
      await writer.open(name).catch(() => writer.openCri(name).catch(() => undefined));
    }
  })().finally(() => pending--);
});

let idleSince = Date.now();
setInterval(() => {
  void writer.flush();
  // Connected agents keep it only if they asked to (`keep`); the others start it again with their
  // next task.
  if (writer.shipping > 0 || pending > 0 || keepers.size > 0) idleSince = Date.now();
  else if (Date.now() - idleSince > IDLE_EXIT_MS) process.exit(0);
}, 500);
