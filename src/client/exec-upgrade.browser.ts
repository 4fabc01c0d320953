/**
 * The browser's exec-upgrade.ts (swapped in by scripts/build-ui.ts): fetch cannot do an HTTP/1.1
 * Upgrade, so an interactive exec is refused with a clear message; `dabba exec -it` does it.
 */
import { DabbaError } from '../errors/index.ts';
import type { UpgradeOutcome } from './exec-upgrade.ts';

export type { ExecConnection, UpgradeOutcome } from './exec-upgrade.ts';

export function openExec(_base: string, taskId: string): Promise<UpgradeOutcome> {
  return Promise.reject(
    new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `an interactive exec in ${taskId} needs the CLI (dabba exec -it ${taskId} -- CMD): a browser cannot upgrade the connection`,
    ),
  );
}
