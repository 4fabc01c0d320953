/**
 * One end of `bench/config-floor.ts`'s hop through the testbed's network, run in a testbed host's
 * namespace (`Testbed.exec`):
 *
 *   node bench/config-floor-hop.ts serve PORT CERT_FILE KEY_FILE BYTES
 *     accepts one TLS connection, reads BYTES from it and closes it; prints {"cpu": s} (its own
 *     CPU from the first byte to the last).
 *   node bench/config-floor-hop.ts send ADDRESS PORT BYTES
 *     connects (retrying while the other end starts), sends BYTES in 1 MiB writes and waits for the
 *     other end to close; prints {"cpu": s, "machine": s, "seconds": s}: its own CPU, the whole
 *     machine's busy CPU (every process and the kernel's network work: /proc/stat) and the wall
 *     time, all from the handshake's end to the close.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type TLSSocket } from 'node:tls';

const MB = 1024 * 1024;

/** CPU seconds the whole machine spent busy so far (user, nice, system, irq, softirq, steal). */
function machineBusy(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const at = (i: number): number => f[i] ?? 0;
  return (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) / 100;
}

const cpuSince = (before: NodeJS.CpuUsage): number => {
  const u = process.cpuUsage(before);
  return (u.user + u.system) / 1e6;
};

async function serve(port: number, certFile: string, keyFile: string, bytes: number): Promise<void> {
  const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
  server.listen(port, '0.0.0.0');
  await once(server, 'listening');
  const [sock] = (await once(server, 'secureConnection')) as [TLSSocket];
  server.close();
  let got = 0;
  let from: NodeJS.CpuUsage | undefined;
  await new Promise<void>((resolve, reject) => {
    sock.on('data', (b: Buffer) => {
      from ??= process.cpuUsage();
      got += b.length;
      if (got >= bytes) resolve();
    });
    sock.on('error', reject);
    sock.on('end', () => reject(new Error(`the sender stopped after ${got} of ${bytes} bytes`)));
  });
  const cpu = from === undefined ? 0 : cpuSince(from);
  sock.end();
  process.stdout.write(`${JSON.stringify({ cpu })}\n`);
}

async function connectRetrying(address: string, port: number): Promise<TLSSocket> {
  const until = Date.now() + 10_000;
  for (;;) {
    const sock = connect({ host: address, port, rejectUnauthorized: false });
    try {
      await once(sock, 'secureConnect');
      return sock;
    } catch (e) {
      sock.destroy();
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function send(address: string, port: number, bytes: number): Promise<void> {
  const data = Buffer.alloc(MB, 0x5a);
  const sock = await connectRetrying(address, port);
  const machine0 = machineBusy();
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let off = 0; off < bytes; off += MB) {
    if (!sock.write(data.subarray(0, Math.min(MB, bytes - off)))) await once(sock, 'drain');
  }
  sock.resume();
  await once(sock, 'end');
  const out = {
    cpu: cpuSince(cpu0),
    machine: machineBusy() - machine0,
    seconds: (performance.now() - wall0) / 1000,
  };
  sock.destroy();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'serve') await serve(Number(args[0]), args[1] ?? '', args[2] ?? '', Number(args[3]));
else if (mode === 'send') await send(args[0] ?? '', Number(args[1]), Number(args[2]));
else throw new Error('usage: config-floor-hop.ts serve PORT CERT KEY BYTES | send ADDRESS PORT BYTES');
