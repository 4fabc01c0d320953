/**
 * The process runtime's side of the log writer (log-writer.ts): connects to the writer of its
 * state dir, starting one (detached: it outlives the agent) when there is none, and asks it to ship
 * a task (`open`) or to say when a task's output has all been written (`watch`).
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sleep } from '../../lib/index.ts';
import { writerSocketName } from './writer-socket.ts';

const MAIN = fileURLToPath(new URL('./log-writer-main.ts', import.meta.url));
const CONNECT_TIMEOUT_MS = 15_000;

class WriterGone extends Error {}

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface WriterClientOptions {
  /**
   * Keep the writer while this client is connected (the oci runtime: a lone start on an idle host
   * then finds it up instead of starting one beside conmon). Without it, the writer exits a second
   * after it last shipped anything, connected or not.
   */
  keep?: boolean;
}

export class WriterClient {
  readonly #stateDir: string;
  readonly #name: string;
  readonly #keep: boolean;
  #sock: Promise<Socket> | undefined;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  #closed = false;

  constructor(stateDir: string, options: WriterClientOptions = {}) {
    this.#stateDir = stateDir;
    this.#name = writerSocketName(stateDir);
    this.#keep = options.keep === true;
  }

  /** Starts shipping a task's pipes; resolves once the writer has them open. */
  async open(taskId: string): Promise<void> {
    try {
      await this.#request('open', taskId);
    } catch (e) {
      // It exited, idle, as the request came: the next connection starts a new one.
      if (!(e instanceof WriterGone)) throw e;
      await this.#request('open', taskId);
    }
  }

  /** Starts shipping a container's log pipe (conmon's CRI records; see LogWriter.openCri). */
  async openCri(taskId: string, maxBytes?: number): Promise<void> {
    try {
      await this.#request('open-cri', taskId, maxBytes);
    } catch (e) {
      if (!(e instanceof WriterGone)) throw e;
      await this.#request('open-cri', taskId, maxBytes);
    }
  }

  /**
   * Resolves once the task's output has all been written to its log (or at once if it is not
   * shipped). Resolves too if the writer goes away meanwhile.
   */
  watch(taskId: string): Promise<void> {
    return this.#request('watch', taskId).catch(() => undefined);
  }

  /** Connects (starting a writer if there is none: after one was killed, it ships every task again). */
  async ensure(): Promise<void> {
    if (this.#closed) return;
    await (this.#sock ??= this.#connect());
  }

  close(): void {
    this.#closed = true;
    void this.#sock?.then((s) => s.end()).catch(() => undefined);
  }

  async #request(op: 'open' | 'open-cri' | 'watch', task: string, maxBytes?: number): Promise<void> {
    if (this.#closed) throw new Error('the runtime is closed');
    const sock = await (this.#sock ??= this.#connect());
    const id = this.#next++;
    sock.ref(); // while an answer is awaited
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      sock.write(`${JSON.stringify({ id, op, task, ...(maxBytes === undefined ? {} : { maxBytes }) })}\n`);
    });
  }

  async #connect(): Promise<Socket> {
    const deadline = Date.now() + CONNECT_TIMEOUT_MS;
    let started = false;
    for (;;) {
      try {
        const sock = await this.#tryConnect();
        this.#attach(sock);
        return sock;
      } catch (e) {
        if (Date.now() > deadline) {
          this.#sock = undefined;
          throw new Error(`cannot reach the log writer: ${(e as Error).message}`, { cause: e });
        }
        if (!started) {
          started = true;
          const child = spawn(process.execPath, [MAIN, this.#stateDir], {
            detached: true, // its own session: it outlives the agent, as the tasks do
            stdio: 'ignore',
          });
          child.on('error', () => undefined);
          child.unref();
        }
        await sleep(50);
      }
    }
  }

  #tryConnect(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const sock = connect(this.#name);
      sock.once('connect', () => {
        sock.off('error', reject);
        resolve(sock);
      });
      sock.once('error', reject);
    });
  }

  #attach(sock: Socket): void {
    sock.unref(); // an idle connection does not keep the agent's process alive
    // Each connection asks anew: a writer started again (after one was killed) keeps it too.
    if (this.#keep) sock.write(`${JSON.stringify({ op: 'keep' })}\n`);
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const r = JSON.parse(line) as { id?: number; ok?: boolean; error?: string };
          const p = this.#pending.get(r.id ?? 0);
          if (p === undefined) continue;
          this.#pending.delete(r.id ?? 0);
          if (this.#pending.size === 0) sock.unref();
          if (r.ok === true) p.resolve();
          else p.reject(new Error(r.error ?? 'the log writer refused'));
        } catch {
          // not a reply
        }
      }
    });
    sock.on('error', () => undefined);
    sock.once('close', () => {
      this.#sock = undefined;
      for (const p of this.#pending.values()) p.reject(new WriterGone('the log writer went away'));
      this.#pending.clear();
    });
  }
}
