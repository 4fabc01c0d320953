/**
 * The undici package, loaded the first time a client needs it (a TLS dispatcher, a streamed GET, CA
 * discovery): a command talking plain http to a local server never pays its load, about 100 ms of
 * a CLI start. The package is CommonJS, so `require` loads the same instance `import` would.
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const load = createRequire(import.meta.url);
let lib: typeof Undici | undefined;

export function undici(): typeof Undici {
  return (lib ??= load('undici') as typeof Undici);
}
