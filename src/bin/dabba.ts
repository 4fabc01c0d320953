#!/usr/bin/env node
/**
 * Entry point of the `dabba` command. It turns Node's module compile cache on before loading
 * anything else (cli-main.ts and everything a command needs): modules are type-stripped and
 * compiled once per version of their source, not at every run. The cache lives where Node puts it
 * by default (a directory per user under the OS's temp dir); `NODE_COMPILE_CACHE=DIR` moves it and
 * `NODE_DISABLE_COMPILE_CACHE=1` turns it off. It is an optimization only: where the directory
 * cannot be written, the command runs as it would without it.
 */
import { enableCompileCache } from 'node:module';

enableCompileCache();
await import('./cli-main.ts');
