/**
 * HAProxy's runtime API over its admin socket: one command per connection, the answer is what the
 * proxy writes before it closes the connection.
 */
import { connect } from 'node:net';

export function runtimeCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(socket);
    let out = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`HAProxy did not answer "${command}" within ${String(timeoutMs)} ms`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('data', (d: string) => (out += d));
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('end', () => {
      clearTimeout(timer);
      resolve(out);
    });
    c.write(`${command}\n`);
  });
}

export interface ServerState {
  backend: string;
  name: string;
  address: string;
  port: number;
  /** 0 stopped (down), 2 running (up) ... (HAProxy's srv_op_state). */
  opState: number;
  /** Bit 0x01/0x20: in maintenance. */
  adminState: number;
  /** The weight set by the config or the runtime API (srv_uweight). */
  weight: number;
}

/** `show servers state BACKEND`: its servers as the proxy has them now. */
export async function serversState(socket: string, backend: string): Promise<ServerState[]> {
  const text = await runtimeCommand(socket, `show servers state ${backend}`);
  const out: ServerState[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '' || /^\d+$/.test(line.trim())) continue;
    const f = line.split(' ');
    if (f.length < 19) {
      if (/No such backend|Can't find backend/i.test(line)) throw new Error(line.trim());
      continue;
    }
    out.push({
      backend: f[1] ?? '',
      name: f[3] ?? '',
      address: f[4] ?? '',
      opState: Number(f[5]),
      adminState: Number(f[6]),
      weight: Number(f[7]),
      port: Number(f[18]),
    });
  }
  return out;
}
