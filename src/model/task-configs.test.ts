/** `task.configs` in job files: normalized, defaulted, and every mistake placed by line and column. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseJobFile, toUserForm, validateJob } from './files.ts';

test('task.configs: defaults, normalized form, round trip through the user form', () => {
  const r = parseJobFile(
    [
      'name: web',
      'task:',
      '  command: [sleep, "100"]',
      '  configs:',
      '    - path: app/settings.json',
      '      mount: /etc/app/settings.json',
      '      onChange: signal:HUP',
      '    - path: app/flags.yaml',
      '      mount: /etc/app/flags.yaml',
      '',
    ].join('\n'),
    'web.yaml',
  );
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.spec.task.configs, [
    { path: 'app/settings.json', mount: '/etc/app/settings.json', onChange: 'signal:HUP' },
    { path: 'app/flags.yaml', mount: '/etc/app/flags.yaml', onChange: 'none' },
  ]);
  const again = validateJob(toUserForm(r.spec));
  assert.ok(again.ok);
  assert.deepEqual(again.spec, r.spec);
  const none = parseJobFile('name: web\ntask:\n  command: [sleep, "1"]\n', 'web.yaml');
  assert.ok(none.ok);
  assert.equal(
    none.spec.task.configs,
    undefined,
    'no configs: the field is absent (older specs compare equal)',
  );
});

test('task.configs: a bad path, mount or onChange and a duplicate mount, each at its line and column', () => {
  const r = parseJobFile(
    [
      'name: web',
      'task:',
      '  command: [sleep, "100"]',
      '  configs:',
      '    - path: /abs/settings.json',
      '      mount: etc/app.json',
      '      onChange: signal:TERM',
      '    - path: ok.json',
      '      mount: /etc/a.json',
      '    - path: ok2.json',
      '      mount: /etc/a.json',
      '',
    ].join('\n'),
    'web.yaml',
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  const at = r.issues.map((i) => `${i.line}:${i.column} ${i.path}`);
  assert.deepEqual(at, [
    '5:13 task.configs[0].path',
    '6:14 task.configs[0].mount',
    '7:17 task.configs[0].onChange',
    '11:14 task.configs[2].mount',
  ]);
});
