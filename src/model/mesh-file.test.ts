import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { formatIssues } from './index.ts';
import { diffMesh, parseMeshFile, validateMeshFile } from './files.ts';
import { meshSchemaFileText } from './mesh-schema.ts';

describe('the dependency file', () => {
  test('schema/mesh.schema.json is up to date (run `npm run schema` if this fails)', () => {
    const file = new URL('../../schema/mesh.schema.json', import.meta.url);
    assert.equal(readFileSync(file, 'utf8'), meshSchemaFileText());
  });

  test('defaults are safe and on: retries 2 on connect failure/503, idempotent only, queue 100ms, ejection after 5', () => {
    const r = parseMeshFile('services:\n  front:\n    upstreams:\n      back:\n  back:\n', 'f.yaml');
    assert.ok(r.ok, r.ok ? '' : formatIssues(r.issues));
    assert.deepEqual(r.config.services['front']?.upstreams['back'], {
      loadBalancing: 'p2c',
      connectTimeoutMs: 250,
      timeoutMs: 3000,
      retries: { on: ['connect-failure', '503'], max: 2, perTryTimeoutMs: 1000, methods: 'idempotent' },
      circuitBreaker: { maxConnections: 1024, maxPending: 1024 },
      outlierDetection: { consecutive5xx: 5, ejectionTimeMs: 30_000 },
    });
    assert.deepEqual(r.config.services['back'], {
      upstreams: {},
      inbound: { maxConcurrency: 64, queueTimeoutMs: 100 },
    });
  });

  test('every problem at once, each at its line and column', () => {
    const text = [
      'services:',
      '  front:',
      '    upstreams:',
      '      back: { retries: { on: [teapot], perTryTimeout: 10s }, timeout: 2s }',
      '    inbound: { queueTimeout: fast, maxConcurency: 3 }',
      '  Bad_Name: {}',
      '',
    ].join('\n');
    const r = parseMeshFile(text, 'deps.yaml');
    assert.ok(!r.ok);
    assert.deepEqual(
      r.issues.map((i) => `${String(i.line)}:${String(i.column)} ${i.path}`),
      [
        '4:31 services.front.upstreams.back.retries.on[0]',
        '5:30 services.front.inbound.queueTimeout',
        '5:36 services.front.inbound.maxConcurency',
        '6:3 services.Bad_Name',
      ],
    );
    const cross = parseMeshFile(
      'services:\n  a:\n    upstreams:\n      b: { timeout: 1s, retries: { perTryTimeout: 2s } }\n',
      'x',
    );
    assert.ok(!cross.ok);
    assert.match(formatIssues(cross.issues), /x:4:51: .*perTryTimeout: is longer than the request timeout/);
    assert.ok(!parseMeshFile('services: [1\n', 'y').ok);
    assert.ok(!validateMeshFile({ services: { a: { expose: 0 } } }).ok);
  });

  test('diff: per service and per setting, an added upstream as one change', () => {
    const parse = (t: string) => {
      const r = parseMeshFile(t, 'f');
      assert.ok(r.ok);
      return r.config;
    };
    const a = parse('services:\n  front:\n    upstreams:\n      back: { timeout: 3s }\n  back:\n');
    const b = parse(
      'services:\n  front:\n    upstreams:\n      back: { timeout: 3s, retries: { max: 0 } }\n      cache:\n    inbound: { maxConcurrency: 8 }\n',
    );
    assert.deepEqual(diffMesh(a, b), [
      {
        service: 'back',
        setting: '',
        kind: 'removed',
        from: { upstreams: {}, inbound: { maxConcurrency: 64, queueTimeout: '100ms' } },
      },
      {
        service: 'front',
        setting: 'upstreams.cache',
        kind: 'added',
        to: {
          loadBalancing: 'p2c',
          connectTimeout: '250ms',
          timeout: '3s',
          retries: { on: ['connect-failure', '503'], max: 2, perTryTimeout: '1s', methods: 'idempotent' },
          circuitBreaker: { maxConnections: 1024, maxPending: 1024 },
          outlierDetection: { consecutive5xx: 5, ejectionTime: '30s' },
        },
      },
      { service: 'front', setting: 'inbound.maxConcurrency', kind: 'changed', from: 64, to: 8 },
      { service: 'front', setting: 'upstreams.back.retries.max', kind: 'changed', from: 2, to: 0 },
    ]);
    assert.deepEqual(diffMesh(a, a), []);
  });
});
