import { ValidationError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import { formatIssue } from '../../model/index.ts';
import { validateMeshFile } from '../../model/files.ts';
import { applyMesh, currentMesh, meshHistory, rollbackMesh } from '../../mesh/server/index.ts';
import { principalName } from '../../auth/index.ts';
import type { Store } from '../../store/index.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';
import { parseBody } from '../state/parse.ts';
import { meshApplySchema, rollbackSchema } from '../state/wire-schemas.ts';
import type { EventLog } from '../state/events.ts';

/**
 * The dependency file: `GET /v1/mesh` (the current version, or null), `PUT /v1/mesh` ({file,
 * message}: a new version), `GET /v1/mesh/versions`, `POST /v1/mesh/rollback` ({version?}).
 */
export function meshRoutes(router: Router, store: Store, clock: Clock, events: EventLog): void {
  router.on('GET', '/v1/mesh', async () => (await currentMesh(store)) ?? null);
  router.on('GET', '/v1/mesh/versions', () => meshHistory(store));

  router.on('PUT', '/v1/mesh', async ({ req, principal }) => {
    const body = parseBody(meshApplySchema, await readJsonBody(req), 'dependency file apply');
    const r = validateMeshFile(body.file);
    if (!r.ok) {
      throw new ValidationError(
        `invalid dependency file: ${r.issues.length} problem${r.issues.length === 1 ? '' : 's'}: ${r.issues.map(formatIssue).join('; ')}`,
        r.issues,
      );
    }
    const author = principalName(principal);
    const result = await applyMesh(store, r.config, { author, message: body.message }, clock);
    if (result.changed) {
      await events.append([
        {
          kind: 'MeshApplied',
          message: `dependency file version ${String(result.version)} by ${author}: ${body.message}`,
        },
      ]);
    }
    return result;
  });

  router.on('POST', '/v1/mesh/rollback', async ({ req, principal }) => {
    const body = parseBody(rollbackSchema, await readJsonBody(req), 'rollback');
    const author = principalName(principal);
    const result = await rollbackMesh(store, body.version, author, clock);
    if (result.changed) {
      await events.append([
        {
          kind: 'MeshRolledBack',
          message: `dependency file version ${String(result.version)} restores version ${String(result.restored)} (by ${author})`,
        },
      ]);
    }
    return result;
  });
}
