/** `task.volumes` in job files: normalized, round trip, and every mistake placed by line and column. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIssues, volumeEnvName } from './index.ts';
import { parseJobFile, toUserForm, validateJob } from './files.ts';

test('task.volumes: normalized form (sizes in bytes), round trip through the user form', () => {
  const r = parseJobFile(
    [
      'name: db',
      'task:',
      '  command: [redis-server]',
      '  volumes:',
      '    - { name: data, mount: /var/lib/redis, size: 1Gi }',
      '    - { name: wal-log, mount: /wal, size: 536870912 }',
      '',
    ].join('\n'),
    'db.yaml',
  );
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.spec.task.volumes, [
    { name: 'data', mount: '/var/lib/redis', sizeBytes: 1024 ** 3 },
    { name: 'wal-log', mount: '/wal', sizeBytes: 512 * 1024 ** 2 },
  ]);
  const again = validateJob(toUserForm(r.spec));
  assert.ok(again.ok);
  assert.deepEqual(again.spec, r.spec);
  const none = parseJobFile('name: web\ntask:\n  command: [sleep, "1"]\n', 'web.yaml');
  assert.ok(none.ok);
  assert.equal(
    none.spec.task.volumes,
    undefined,
    'no volumes: the field is absent (older specs compare equal)',
  );
  assert.equal(volumeEnvName('wal-log'), 'DABBA_VOLUME_WAL_LOG');
});

test('task.volumes: bad names, mounts and sizes, duplicates and nesting, each at its line and column', () => {
  const text = [
    'name: db', // 1
    'task:', // 2
    '  command: [sleep, "100"]', // 3
    '  volumes:', // 4
    '    - { name: data, mount: /data, size: 1Gi }', // 5
    '    - { name: Data, mount: /data/x, size: 1gb }', // 6
    '    - { name: data, mount: /proc/x, size: 0 }', // 7
    '    - { name: logs, mount: relative, size: 1Gi }', // 8
    '    - { nme: x }', // 9
    '',
  ].join('\n');
  const r = parseJobFile(text, 'db.yaml');
  assert.ok(!r.ok);
  const lines = formatIssues(r.issues).split('\n');
  const expect = [
    /^db\.yaml:6:15: task\.volumes\[1\]\.name: is not a valid name; did you mean "data"\?/,
    /^db\.yaml:6:28: task\.volumes\[1\]\.mount: overlaps the mount of task\.volumes\[0\] \(\/data\)/,
    /^db\.yaml:6:43: task\.volumes\[1\]\.size: is not a size; did you mean "1Gi"\?/,
    /^db\.yaml:7:15: task\.volumes\[2\]\.name: duplicate volume name \(already used by task\.volumes\[0\]\)/,
    /^db\.yaml:7:28: task\.volumes\[2\]\.mount: must not be under \/proc/,
    /^db\.yaml:7:43: task\.volumes\[2\]\.size: must be at least 1Mi/,
    /^db\.yaml:8:28: task\.volumes\[3\]\.mount: must be an absolute path/,
    /^db\.yaml:9:7: task\.volumes\[4\]\.name: is required/,
    /^db\.yaml:9:7: task\.volumes\[4\]\.mount: is required/,
    /^db\.yaml:9:7: task\.volumes\[4\]\.size: is required/,
    /^db\.yaml:9:9: task\.volumes\[4\]\.nme: unknown field "nme"; did you mean "name"\?/,
  ];
  assert.equal(lines.length, expect.length, lines.join('\n'));
  expect.forEach((re, i) => assert.match(lines[i] ?? '', re));
});

test('task.volumes: a config mounted inside a volume is refused at the config', () => {
  const r = parseJobFile(
    [
      'name: db',
      'task:',
      '  command: [sleep, "100"]',
      '  configs: [{ path: app/a.json, mount: /data/a.json }]',
      '  volumes: [{ name: data, mount: /data, size: 1Gi }]',
      '',
    ].join('\n'),
    'db.yaml',
  );
  assert.ok(!r.ok);
  assert.match(
    formatIssues(r.issues),
    /^db\.yaml:4:40: task\.configs\[0\]\.mount: is inside the mount of task\.volumes\[0\]/,
  );
});
