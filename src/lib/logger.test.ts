/** The structured log's file destination when it cannot be written: the process carries on and ends cleanly. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

describe('createLogger with a file', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-logger-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a log file that cannot be opened: said once, lines go to stderr, and the process exits cleanly', async () => {
    await writeFile(join(dir, 'file'), 'x');
    const file = join(dir, 'file', 'dabba.log'); // a file where its directory should be
    const script = `
      const { createLogger, logFaults } = await import(${JSON.stringify(new URL('./logger.ts', import.meta.url).href)});
      const log = createLogger('t', { file: ${JSON.stringify(file)}, level: 'info' });
      log.info('one');
      setTimeout(() => { log.info('two'); console.log('errors', logFaults.errors); }, 100);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    // pino flushes at exit: a destination that never opened used to end the process on a stack trace.
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'errors 1');
    const [said, ...lines] = r.stderr.trim().split('\n');
    assert.match(
      said ?? '',
      new RegExp(`^dabba: cannot open the log ${file} \\((ENOTDIR|EEXIST)\\); logging to stderr instead$`),
    );
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['one', 'two'],
    );
  });
});
