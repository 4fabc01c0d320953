/**
 * Child process for the SQLite store tests.
 *   node store-child.ts write DB WRITERS  - WRITERS concurrent loops of puts; prints "REV KEY" for each
 *                                           acknowledged put (stdout to a pipe is synchronous on Linux,
 *                                           so a printed line is a write the store acknowledged)
 *   node store-child.ts hold DB           - opens the store, prints "ready", waits to be killed
 */
import { SqliteStore } from '../sqlite-store.ts';

const [mode, path, writersArg] = process.argv.slice(2);
if (path === undefined || (mode !== 'write' && mode !== 'hold')) {
  process.stderr.write('usage: store-child.ts write|hold DB [WRITERS]\n');
  process.exit(2);
}
const store = await SqliteStore.open(path);
if (mode === 'hold') {
  process.stdout.write('ready\n');
  setInterval(() => undefined, 60_000);
} else {
  const writers = Number(writersArg ?? '1');
  const payload = 'x'.repeat(200);
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; ; i++) {
        const key = `crash/${w}/${i}`;
        const { revision } = await store.put(key, `${payload}${i}`);
        process.stdout.write(`${revision} ${key}\n`);
      }
    }),
  );
}
