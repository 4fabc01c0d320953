/**
 * The wire format of an interactive `dabba exec` (`-i`, `-t`): an HTTP/1.1 Upgrade, as Docker's
 * attach and kubectl's exec do. The request is `POST /v1/tasks/ID/exec?command=sh&command=-c&...
 * &stdin=1&tty=1&cols=80&rows=24` (server) or `POST /v1/exec/ID?...` (agent) with
 * `Connection: Upgrade` and `Upgrade: dabba-exec`; refusals are ordinary JSON error answers; on
 * `101 Switching Protocols` both sides exchange frames: one type byte, a 4-byte big-endian payload
 * length, the payload.
 *
 * - client to task: `stdin` (bytes; an empty payload is end of input), `resize` (u16 cols, u16 rows);
 * - task to client: `stdout`, `stderr` (bytes; with a terminal everything is stdout), then one
 *   `exit` (i32 exit code, 128+N when killed by signal N) or one `error` (JSON `{code, message}`),
 *   and the connection ends. Closing the connection kills the command.
 */
export const EXEC_UPGRADE_PROTOCOL = 'dabba-exec';

export const ExecFrame = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  resize: 3,
  exit: 4,
  error: 5,
} as const;
export type ExecFrameType = (typeof ExecFrame)[keyof typeof ExecFrame];

/** Frames larger than this are a protocol error. */
export const MAX_EXEC_FRAME = 1024 * 1024;

const HEADER = 5;

export interface DecodedFrame {
  type: ExecFrameType;
  payload: Buffer;
}

export function encodeFrame(type: ExecFrameType, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.allocUnsafe(HEADER + payload.length);
  b.writeUInt8(type, 0);
  b.writeUInt32BE(payload.length, 1);
  b.set(payload, HEADER);
  return b;
}

export function resizePayload(cols: number, rows: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(clampSize(cols), 0);
  b.writeUInt16BE(clampSize(rows), 2);
  return b;
}

export function readResize(payload: Buffer): { cols: number; rows: number } | undefined {
  if (payload.length !== 4) return undefined;
  const cols = payload.readUInt16BE(0);
  const rows = payload.readUInt16BE(2);
  return cols > 0 && rows > 0 ? { cols, rows } : undefined;
}

export function exitPayload(code: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(code | 0, 0);
  return b;
}

function clampSize(n: number): number {
  return Math.max(1, Math.min(0xffff, Math.floor(n)));
}

/** Splits a byte stream into frames; throws on an unknown type or an oversized frame. */
export class FrameDecoder {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): DecodedFrame[] {
    this.#buf = this.#buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#buf, chunk]);
    const frames: DecodedFrame[] = [];
    while (this.#buf.length >= HEADER) {
      const type = this.#buf.readUInt8(0);
      const length = this.#buf.readUInt32BE(1);
      if (type > ExecFrame.error) throw new Error(`unknown exec frame type ${type}`);
      if (length > MAX_EXEC_FRAME) throw new Error(`exec frame of ${length} bytes is too large`);
      if (this.#buf.length < HEADER + length) break;
      frames.push({ type: type as ExecFrameType, payload: this.#buf.subarray(HEADER, HEADER + length) });
      this.#buf = this.#buf.subarray(HEADER + length);
    }
    return frames;
  }
}

/** What an interactive exec runs, and how (the query of the upgrade request). */
export interface ExecSpec {
  command: string[];
  /** Pass the client's stdin to the command. */
  stdin: boolean;
  /** Give the command a terminal of this size. */
  tty?: { cols: number; rows: number };
}

export function execQuery(spec: ExecSpec): string {
  const q = new URLSearchParams();
  for (const a of spec.command) q.append('command', a);
  if (spec.stdin) q.set('stdin', '1');
  if (spec.tty) {
    q.set('tty', '1');
    q.set('cols', String(clampSize(spec.tty.cols)));
    q.set('rows', String(clampSize(spec.tty.rows)));
  }
  return q.toString();
}

/** The spec in a request's query, or what is wrong with it. */
export function parseExecQuery(q: URLSearchParams): ExecSpec | string {
  const command = q.getAll('command');
  if (command.length === 0) return 'give the command to run (command=...)';
  if (command.length > 4096) return 'at most 4096 command arguments';
  const stdin = q.get('stdin') === '1';
  if (q.get('tty') !== '1') return { command, stdin };
  const size = (name: string): number => {
    const n = Number(q.get(name) ?? '');
    return Number.isInteger(n) && n > 0 ? clampSize(n) : name === 'cols' ? 80 : 24;
  };
  return { command, stdin, tty: { cols: size('cols'), rows: size('rows') } };
}

/** The answer that switches a connection to the exec stream. */
export const EXEC_SWITCHING = `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${EXEC_UPGRADE_PROTOCOL}\r\n\r\n`;
