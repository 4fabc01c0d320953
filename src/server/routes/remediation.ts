/**
 * Remediation: `GET /v1/remediation` (the rules in force), `PUT /v1/remediation` ({file, message}:
 * the rules file as JSON, validated with every problem at once; a new version), and
 * `GET /v1/remediation/log?since=MS` (what ran, was held back or only logged, and why).
 */
import { principalName } from '../../auth/index.ts';
import { ValidationError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import { formatIssue } from '../../model/index.ts';
import { validateRemediationRules } from '../../model/files.ts';
import type { Store } from '../../store/index.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';
import type { EventLog } from '../state/events.ts';
import { parseBody } from '../state/parse.ts';
import { meshApplySchema } from '../state/wire-schemas.ts';
import { readLog, readRules, writeRules } from '../remediation/rules-store.ts';

export function remediationRoutes(router: Router, store: Store, clock: Clock, events: EventLog): void {
  router.on('GET', '/v1/remediation', () => readRules(store));

  router.on('PUT', '/v1/remediation', async ({ req, principal }) => {
    const body = parseBody(meshApplySchema, await readJsonBody(req), 'remediation apply');
    const r = validateRemediationRules(body.file);
    if (!r.ok) {
      throw new ValidationError(
        `invalid remediation file: ${r.issues.length} problem${r.issues.length === 1 ? '' : 's'}: ${r.issues.map(formatIssue).join('; ')}`,
        r.issues,
      );
    }
    const author = principalName(principal);
    const view = await writeRules(store, r.rules, { author, message: body.message }, clock);
    await events.append([
      {
        kind: 'RemediationApplied',
        message: `remediation rules version ${String(view.version)} (${r.rules.rules.length} rules) by ${author}: ${body.message}`,
      },
    ]);
    return view;
  });

  router.on('GET', '/v1/remediation/log', async ({ query }) => {
    const since = Number(query.get('since') ?? '0');
    if (!Number.isFinite(since) || since < 0) {
      throw new ValidationError('since: a time in ms since the epoch', [
        { path: 'since', message: 'a time in ms since the epoch', found: query.get('since') ?? '' },
      ]);
    }
    return readLog(store, since);
  });
}
