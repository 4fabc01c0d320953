/**
 * Whether the oci runtime still works, for the agent's self-check: the OCI runtime binary and
 * conmon are there and executable, `runc/crun list` answers from its state root in time, and the
 * task bridge is there (when known). A problem is said in words (what, and how to look at it);
 * undefined when all is well.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { BridgeNetwork } from './network.ts';
import type { Ready } from './setup.ts';

const LIST_TIMEOUT_MS = 10_000;

export async function ociHealthCheck(
  ready: Pick<Ready, 'cli' | 'conmon'> & { network?: Pick<BridgeNetwork, 'bridge' | 'exists'> },
): Promise<string | undefined> {
  for (const [what, path] of [
    [ready.cli.name, ready.cli.path],
    ['conmon', ready.conmon],
  ] as const) {
    const ok = await access(path, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (!ok) return `${what} (${path}) is missing or not executable: reinstall it (apt-get install ${what})`;
  }
  const r = await ready.cli.run(['list', '--format', 'json'], LIST_TIMEOUT_MS);
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n').at(-1)?.slice(0, 300) ?? '';
    return `${ready.cli.name} list (state root ${ready.cli.root}) failed with exit ${r.code}${why ? `: ${why}` : ''}`;
  }
  if (ready.network !== undefined && !(await ready.network.exists()))
    return `the task bridge ${ready.network.bridge} is missing (ip link show ${ready.network.bridge}): tasks here are cut off; restart the runtime (remediation restart-runtime) to set it up again`;
  return undefined;
}
