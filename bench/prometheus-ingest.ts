/**
 * Prometheus's live ingest rate on the same samples as bench/tsdb.ts: a real `prometheus` server
 * (Debian's package) started with its remote-write receiver, fed the samples over HTTP in time
 * order (each request one run of rounds of every series, `--concurrency` requests in flight), and
 * measured by its own counter `prometheus_tsdb_head_samples_appended_total`. Series are split
 * into shards, one per connection, as Prometheus's own remote-write client does, so each series'
 * samples arrive in order. The requests are
 * encoded before the clock starts (protobuf by hand; snappy as literal blocks, which the format
 * allows and which cost Prometheus nothing to "decompress"), so the figure is Prometheus's:
 * HTTP, protobuf decoding, head appends, its WAL and its own compactions as time passes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SampleSet } from './tsdb-samples.ts';

const varintLength = (v: number): number => {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
};

class Proto {
  #buf: Uint8Array;
  constructor(initialBytes = 256) {
    this.#buf = new Uint8Array(initialBytes);
  }
  #n = 0;
  get length(): number {
    return this.#n;
  }
  #room(k: number): void {
    if (this.#n + k <= this.#buf.length) return;
    const b = new Uint8Array(Math.max(this.#buf.length * 2, this.#n + k));
    b.set(this.#buf.subarray(0, this.#n));
    this.#buf = b;
  }
  varint(v: number): void {
    this.#room(10);
    while (v >= 0x80) {
      this.#buf[this.#n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#buf[this.#n++] = v;
  }
  bytes(field: number, b: Uint8Array): void {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    this.#room(b.length);
    this.#buf.set(b, this.#n);
    this.#n += b.length;
  }
  /** Bytes already encoded as fields. */
  raw(b: Uint8Array): void {
    this.#room(b.length);
    this.#buf.set(b, this.#n);
    this.#n += b.length;
  }
  double(field: number, v: number): void {
    this.varint((field << 3) | 1);
    this.#room(8);
    new DataView(this.#buf.buffer, this.#n, 8).setFloat64(0, v, true);
    this.#n += 8;
  }
  int(field: number, v: number): void {
    this.varint(field << 3);
    this.varint(v);
  }
  done(): Uint8Array {
    return this.#buf.slice(0, this.#n);
  }
}

const utf8 = new TextEncoder();

/** prometheus.WriteRequest of rounds [r0, r1) of the given series. */
function writeRequest(
  s: SampleSet,
  labelBytes: Uint8Array[],
  series: readonly number[],
  r0: number,
  r1: number,
): Uint8Array {
  const n = s.names.length;
  const req = new Proto(1 << 20);
  for (const i of series) {
    const ts = new Proto(labelBytes[i]!.length + (r1 - r0) * 20);
    ts.raw(labelBytes[i]!);
    for (let r = r0; r < r1; r++) {
      // Sample { double value = 1; int64 timestamp = 2; }, written in place.
      const t = s.ts[r * n + i]!;
      ts.varint((2 << 3) | 2);
      ts.varint(1 + 8 + 1 + varintLength(t));
      ts.double(1, s.vs[r * n + i]!);
      ts.int(2, t);
    }
    req.bytes(1, ts.done());
  }
  return req.done();
}

/** Labels of series i, encoded as the repeated Label fields of a TimeSeries (one blob). */
function labelsOf(s: SampleSet, i: number): Uint8Array {
  const p = new Proto();
  const all = Object.entries({ __name__: s.names[i]!, ...s.labels[i] }).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  for (const [k, v] of all) {
    const l = new Proto();
    l.bytes(1, utf8.encode(k));
    l.bytes(2, utf8.encode(v));
    // Each Label is field 1 of TimeSeries: the blob is copied into each TimeSeries as is.
    p.bytes(1, l.done());
  }
  return p.done();
}

/** Snappy block format with literals only: the uncompressed length, then literal elements. */
function snappyLiterals(data: Uint8Array): Uint8Array {
  const out = new Proto();
  out.varint(data.length);
  const parts: Uint8Array[] = [out.done()];
  for (let at = 0; at < data.length; at += 65536) {
    const chunk = data.subarray(at, Math.min(data.length, at + 65536));
    const len = chunk.length - 1;
    parts.push(len < 60 ? Uint8Array.of(len << 2) : Uint8Array.of(61 << 2, len & 0xff, len >>> 8), chunk);
  }
  return Buffer.concat(parts);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** The sum of a counter's series in Prometheus's own /metrics. */
async function counter(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) total += Number(line.split(' ').at(-1));
  }
  return total;
}

const appended = (base: string): Promise<number> =>
  counter(base, 'prometheus_tsdb_head_samples_appended_total');

export interface PrometheusIngest {
  version: string;
  samples: number;
  ms: number;
  /** CPU seconds Prometheus spent meanwhile (its process_cpu_seconds_total). */
  cpuSeconds: number;
  requests: number;
}

/** Runs Prometheus, sends every sample, and returns what its counter says it appended, and how fast. */
export async function prometheusIngest(
  s: SampleSet,
  roundsPerRequest = 60,
  concurrency = 4,
): Promise<PrometheusIngest | string> {
  const dir = mkdtempSync(join(tmpdir(), 'dabba-prom-ingest-'));
  let proc: ChildProcess | undefined;
  try {
    const labelBytes = s.names.map((_, i) => labelsOf(s, i));
    const shards = Array.from({ length: concurrency }, (_, k) =>
      s.names.map((_, i) => i).filter((i) => i % concurrency === k),
    );
    const bodies = shards.map((series) => {
      const out: Uint8Array[] = [];
      for (let r = 0; r < s.rounds; r += roundsPerRequest) {
        const r1 = Math.min(s.rounds, r + roundsPerRequest);
        out.push(snappyLiterals(writeRequest(s, labelBytes, series, r, r1)));
      }
      return out;
    });
    writeFileSync(join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 1h\nscrape_configs: []\n');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let log = '';
    proc = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-remote-write-receiver',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    const failed = new Promise<never>((_, reject) =>
      proc!.once('error', (e) => reject(new Error(`prometheus could not start: ${e.message}`))),
    );
    const deadline = Date.now() + 120_000;
    for (;;) {
      const ok = await Promise.race([
        fetch(`${base}/-/ready`).then(
          (r) => r.ok,
          () => false,
        ),
        failed,
      ]);
      if (ok) break;
      if (Date.now() > deadline || proc.exitCode !== null) return `prometheus did not start: ${log}`;
      await new Promise((r) => setTimeout(r, 200));
    }
    const info = (await (await fetch(`${base}/api/v1/status/buildinfo`)).json()) as {
      data: { version: string };
    };
    const before = await appended(base);
    const cpuBefore = await counter(base, 'process_cpu_seconds_total');
    const t = performance.now();
    const send = async (body: Uint8Array): Promise<void> => {
      {
        const res = await fetch(`${base}/api/v1/write`, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/x-protobuf',
            'content-encoding': 'snappy',
            'x-prometheus-remote-write-version': '0.1.0',
          },
        });
        if (!res.ok) throw new Error(`remote write: ${res.status} ${await res.text()}`);
      }
    };
    // Time slices in order, the shards of a slice in parallel (as scrapes of many targets arrive):
    // a shard running ahead in time would push the head's window past the others' samples.
    for (let k = 0; k < bodies[0]!.length; k++) await Promise.all(bodies.map((b) => send(b[k]!)));
    const ms = performance.now() - t;
    const samples = (await appended(base)) - before;
    const cpuSeconds = (await counter(base, 'process_cpu_seconds_total')) - cpuBefore;
    return { version: info.data.version, samples, ms, cpuSeconds, requests: bodies.flat().length };
  } finally {
    proc?.kill('SIGTERM');
    if (proc !== undefined && proc.exitCode === null) {
      await new Promise((r) => proc!.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
