/**
 * The admin token of the servers a test process starts in-process or as children (`auth.adminToken`,
 * `--admin-token-file`), one per test process, and a temp config dir for the CLI runs so that no
 * test reads or writes the user's real ~/.config/dabba.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateToken } from '../../src/auth/index.ts';

export const TEST_ADMIN_TOKEN = generateToken();

/** XDG_CONFIG_HOME for CLI child processes of this test process. */
export const TEST_CONFIG_HOME = join(tmpdir(), `dabba-test-config-${process.pid}`);
process.once('exit', () => rmSync(TEST_CONFIG_HOME, { recursive: true, force: true }));

/** A file holding TEST_ADMIN_TOKEN (for `dabba server --admin-token-file`). */
export function adminTokenFile(): string {
  mkdirSync(TEST_CONFIG_HOME, { recursive: true, mode: 0o700 });
  const file = join(TEST_CONFIG_HOME, 'admin.token');
  writeFileSync(file, `${TEST_ADMIN_TOKEN}\n`, { mode: 0o600 });
  return file;
}
