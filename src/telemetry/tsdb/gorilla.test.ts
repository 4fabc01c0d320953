import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BitReader, BitWriter } from './bits.ts';
import { decode, GorillaEncoder } from './gorilla.ts';
import { decodeSealed, sealChunk } from './sealed-chunk.ts';

/**
 * A float64's bits, every NaN as one: JavaScript does not promise to keep a NaN's payload through a
 * number (ECMA-262 lets a typed array store any NaN encoding for NaN), and V8 keeps it or not by
 * how optimized the code moving it is; a CI run saw a payload NaN come back as the canonical one.
 */
const bitsOf = (v: number): bigint | 'NaN' => {
  if (Number.isNaN(v)) return 'NaN';
  const b = new Float64Array([v]);
  return new BigUint64Array(b.buffer)[0]!;
};
const fromBits = (b: bigint): number => new Float64Array(new BigUint64Array([b]).buffer)[0]!;

/** Floats with the awkward ones made likely: NaN (payloads too), infinities, -0, subnormals, extremes. */
const anyFloat = fc.oneof(
  fc.double(),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE),
  fc.double({ min: -2.2250738585072014e-308, max: 2.2250738585072014e-308 }),
  fc.integer({ min: 0, max: 1_000_000 }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(fromBits),
);

/** Strictly increasing integer timestamps: a start and positive gaps (regular, jittery or wild). */
const timestamps = (n: number): fc.Arbitrary<number[]> =>
  fc
    .tuple(
      fc.integer({ min: 0, max: 2 ** 52 }),
      fc.array(
        fc.oneof(
          fc.constant(10_000),
          fc.integer({ min: 9_900, max: 10_100 }),
          fc.integer({ min: 1, max: 40_000 }),
          fc.integer({ min: 1, max: 2 ** 40 }),
        ),
        { minLength: n, maxLength: n },
      ),
    )
    .map(([start, gaps]) => {
      const out = [start];
      for (const g of gaps) out.push(Math.min(out[out.length - 1]! + g, 2 ** 53 - 1 - gaps.length) + 0);
      // keep strictly increasing even when clamped near 2^53
      for (let i = 1; i < out.length; i++) if (out[i]! <= out[i - 1]!) out[i] = out[i - 1]! + 1;
      return out;
    });

const series = (columns: number): fc.Arbitrary<{ ts: number[]; vs: number[] }> =>
  fc.integer({ min: 0, max: 300 }).chain((n) =>
    fc.record({
      ts: n === 0 ? fc.constant([]) : timestamps(n - 1),
      vs: fc.array(anyFloat, { minLength: n * columns, maxLength: n * columns }),
    }),
  );

test('bit writer and reader agree on any sequence of fields', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.integer({ min: 0, max: 32 }).chain((n) => fc.tuple(fc.constant(n), fc.nat({ max: 2 ** n - 1 }))),
      ),
      (fields) => {
        const w = new BitWriter(8);
        for (const [n, v] of fields) w.writeBits(v, n);
        const r = new BitReader(w.bytes());
        for (const [n, v] of fields) assert.equal(r.readBits(n), v);
        assert.equal(r.overrun, false);
      },
    ),
  );
});

for (const columns of [1, 4]) {
  test(`any increasing timestamps with any float64 values round-trip bit for bit (${columns} column(s))`, () => {
    fc.assert(
      fc.property(series(columns), ({ ts, vs }) => {
        const e = new GorillaEncoder(columns, 8);
        for (let i = 0; i < ts.length; i++) e.appendRow(ts[i]!, vs.slice(i * columns, (i + 1) * columns));
        const d = decode(e.bytes(), ts.length, columns);
        assert.equal(d.ok, true);
        assert.deepEqual([...d.ts], ts);
        assert.deepEqual([...d.vals].map(bitsOf), vs.map(bitsOf));
      }),
      { numRuns: 300 },
    );
  });
}

test('a regular 10 s series of a constant costs about 2 bits a point', () => {
  const e = new GorillaEncoder();
  for (let i = 0; i < 720; i++) e.append(1_700_000_000_000 + i * 10_000, 42);
  assert.equal(e.bitLength, 128 + 719 * 2);
});

test('a truncated stream is reported, not misread silently', () => {
  const e = new GorillaEncoder();
  for (let i = 0; i < 100; i++) e.append(i * 10_000 + (i % 7), Math.sin(i));
  const bytes = e.bytes();
  assert.equal(decode(bytes.subarray(0, bytes.length - 20), 100).ok, false);
});

/** Values a sealed chunk may code as integers: counters, scaled decimals, big and negative ones. */
const intLike = fc.oneof(
  fc.integer({ min: -1e6, max: 1e9 }),
  fc.integer({ min: -99_999, max: 99_999 }).map((x) => x / 1000),
  fc.integer({ min: -99_999, max: 99_999 }).map((x) => x / 10),
  fc.constantFrom(2 ** 50 - 1, -(2 ** 50) + 1, 2 ** 50, 2 ** 53, 0.1 + 0.2, -0, 0),
  anyFloat,
);

/** n timestamps on a regular tick (what the agent stamps). */
const regularTimestamps = (n: number): fc.Arbitrary<number[]> =>
  fc
    .tuple(fc.integer({ min: 0, max: 2 ** 50 }), fc.integer({ min: 1, max: 2 ** 20 }))
    .map(([start, dt]) => Array.from({ length: n }, (_, i) => start + i * dt));

test('sealed chunks (xor or packed integers, whichever is smaller) round-trip bit for bit', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 300 }).chain((n) =>
        fc.record({
          ts: n === 0 ? fc.constant([]) : fc.oneof(timestamps(n - 1), regularTimestamps(n)),
          vs: fc.oneof(
            // a gauge in pages of 4096 bytes that changes now and then (a common divisor)
            fc
              .array(fc.integer({ min: -64, max: 64 }), { minLength: n, maxLength: n })
              .map((d) => d.map((x, i) => 4096 * (1e6 + (i % 3 === 0 ? x : 0)))),
            // values near the integer limit, both ways
            fc.array(fc.constantFrom(2 ** 50 - 1, -(2 ** 50) + 1, 0, 1), { minLength: n, maxLength: n }),
            fc.array(intLike, { minLength: n, maxLength: n }),
            // a counter: mostly regular increments
            fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: n, maxLength: n }).map((d) => {
              let c = 0;
              return d.map((x) => (c += x));
            }),
          ),
        }),
      ),
      ({ ts, vs }) => {
        const e = new GorillaEncoder();
        for (let i = 0; i < ts.length; i++) e.append(ts[i]!, vs[i]!);
        const sealed = sealChunk(e.bytes(), ts.length);
        assert.ok(sealed.length <= e.bytes().length + 2);
        const t = new Float64Array(ts.length);
        const v = new Float64Array(ts.length);
        assert.equal(decodeSealed(sealed, ts.length, t, v), true);
        assert.deepEqual([...t], ts);
        assert.deepEqual([...v].map(bitsOf), vs.map(bitsOf));
      },
    ),
    { numRuns: 300 },
  );
});

test('BitReader.readRun reads what writeBits wrote, at any offset and up to the last byte', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 13 }),
      fc
        .integer({ min: 1, max: 25 })
        .chain((w) =>
          fc.tuple(fc.constant(w), fc.array(fc.integer({ min: 0, max: 2 ** w - 1 }), { maxLength: 40 })),
        ),
      (lead, [w, xs]) => {
        const bw = new BitWriter();
        bw.writeBits(0, lead);
        for (const x of xs) bw.writeBits(x, w);
        const r = new BitReader(bw.bytes());
        r.readBits(lead);
        const out = new Float64Array(xs.length);
        r.readRun(w, xs.length, out, 0);
        assert.deepEqual([...out], xs);
        assert.equal(r.overrun, false);
      },
    ),
    { numRuns: 500 },
  );
});
