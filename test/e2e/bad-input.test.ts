/** Bad input through the CLI and the API: clear errors, exit code 2, nothing stored, server still up. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DevCluster, cli } from '../helpers/dev-cluster.ts';

describe('bad input', () => {
  let c: DevCluster;
  before(async () => {
    c = await DevCluster.start();
  });
  after(async () => {
    await c.destroy();
  });

  async function assertNothingStoredAndUp(): Promise<void> {
    const health = await c.api('GET', '/v1/health');
    assert.equal(health.status, 200, 'server still up');
    const jobs = await c.api('GET', '/v1/jobs');
    assert.deepEqual(jobs.body, [], 'nothing stored');
  }

  const cases: [string, string, RegExp][] = [
    ['invalid YAML', 'name: x\nreplicas: [1, 2\n', /bad\.yaml:\d+:\d+/],
    ['wrong types', 'name: x\nreplicas: three\ntask: { command: ["true"] }\n', /replicas/],
    [
      'unknown field with a suggestion',
      'name: x\nreplicas: 1\ntask: { comand: ["true"] }\n',
      /did you mean "?command"?/,
    ],
    ['negative replicas', 'name: x\nreplicas: -1\ntask: { command: ["true"] }\n', /replicas/],
    [
      'absurd size',
      'name: x\ntask: { command: ["true"], resources: { memory: 99Ti } }\n',
      /task\.resources\.memory/,
    ],
    [
      'bad size unit',
      'name: x\ntask: { command: ["true"], resources: { memory: 64mb } }\n',
      /task\.resources\.memory/,
    ],
  ];
  for (const [what, yaml, pattern] of cases) {
    test(`CLI: ${what} -> exit 2 with a located message`, async () => {
      const file = join(c.dataDir, 'bad.yaml');
      await writeFile(file, yaml);
      const r = await c.cli(['deploy', file]);
      assert.equal(r.code, 2, `exit code (stdout: ${r.stdout}, stderr: ${r.stderr})`);
      assert.match(r.stderr, pattern);
      assert.match(r.stderr, /bad\.yaml:\d+:\d+/, 'names file, line and column');
      assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, 'no stack trace');
      await assertNothingStoredAndUp();
    });
  }

  test('CLI: several errors are reported at once', async () => {
    const file = join(c.dataDir, 'multi.yaml');
    await writeFile(
      file,
      'name: x\nreplicas: -2\ntask:\n  command: ["true"]\n  resources: { memory: lots }\n  colour: red\n',
    );
    const r = await c.cli(['deploy', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /replicas/);
    assert.match(r.stderr, /memory/);
    assert.match(r.stderr, /colour/);
  });

  test('CLI: a missing file and unknown flags are usage errors (2); an unreachable server is 3', async () => {
    assert.equal((await c.cli(['deploy', join(c.dataDir, 'nope.yaml')])).code, 2);
    assert.equal((await c.cli(['status', '--bogus'])).code, 2);
    const r = await cli(['status'], { addr: 'http://127.0.0.1:1' });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /cannot reach/);
  });

  test('API: invalid job body -> 400 with every issue', async () => {
    const r = await c.api('PUT', '/v1/jobs/x', { name: 'x', replicas: -1, task: { command: [] }, extra: 1 });
    assert.equal(r.status, 400);
    const body = r.body as { code: string; details: { issues: { path: string }[] } };
    assert.equal(body.code, 'DABBA_E_VALIDATION');
    assert.ok(body.details.issues.length >= 3, JSON.stringify(body));
    await assertNothingStoredAndUp();
  });

  test('API: a 10 MB body is refused with 413', async () => {
    const big = JSON.stringify({ name: 'x', pad: 'a'.repeat(10 * 1024 * 1024) });
    const r = await c.api('PUT', '/v1/jobs/x', big);
    assert.equal(r.status, 413);
    assert.equal((r.body as { code: string }).code, 'DABBA_E_BODY_TOO_LARGE');
    await assertNothingStoredAndUp();
  });

  test('API: non-JSON body -> 400, wrong content type -> 415, unknown route -> 404', async () => {
    const a = await c.api('PUT', '/v1/jobs/x', '{not json');
    assert.equal(a.status, 400);
    assert.equal((a.body as { code: string }).code, 'DABBA_E_MALFORMED_JSON');
    const b = await c.api('PUT', '/v1/jobs/x', 'name: x', { 'content-type': 'text/yaml' });
    assert.equal(b.status, 415);
    const d = await c.api('GET', '/v1/nothing');
    assert.equal(d.status, 404);
    const e = await c.api('POST', '/v1/jobs');
    assert.equal(e.status, 405);
    const f = await c.api('GET', '/v1/jobs/Not_A_Name');
    assert.equal(f.status, 400);
    await assertNothingStoredAndUp();
  });

  test('API: garbage on the socket, a chunked 10 MB body and odd paths leave the server up', async () => {
    const { hostname, port } = new URL(c.url);
    const reply = await new Promise<string>((resolve) => {
      const sock = connect(Number(port), hostname);
      let data = '';
      sock.on('data', (d: Buffer) => (data += d.toString()));
      sock.on('close', () => resolve(data));
      sock.on('error', () => resolve(data));
      sock.write('\x00\x01GARBAGE / HTTP/9.9\r\n\r\n');
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
    const chunked = await fetch(`${c.url}/v1/jobs/x`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await c.adminToken()}` },
      body: new ReadableStream({
        start(ctrl) {
          const chunk = new TextEncoder().encode('a'.repeat(1024 * 1024));
          for (let i = 0; i < 10; i++) ctrl.enqueue(chunk);
          ctrl.close();
        },
      }),
      duplex: 'half',
    });
    assert.equal(chunked.status, 413);
    for (const path of [
      '/v1/jobs/%E0%A4%A',
      '/v1/jobs/' + 'a'.repeat(5000),
      '/v1/watch?prefix=nope',
      '/v1/watch?rev=-1',
    ]) {
      const r = await c.api('GET', path);
      assert.ok(r.status >= 400 && r.status < 500, `${path} -> ${r.status}`);
    }
    await assertNothingStoredAndUp();
  });
});
