/**
 * Where remediation lives in the store: the rules in force (one record, versioned, with author and
 * message, kept in user form and validated again when read) and the log of records in time order.
 */
import { DabbaError } from '../../errors/index.ts';
import { shortId, type Clock } from '../../lib/index.ts';
import {
  keys,
  ruleUserForm,
  type RemediationRecord,
  type RemediationRules,
  type RemediationRulesView,
} from '../../model/index.ts';
import { validateRemediationRules } from '../../model/files.ts';
import type { Store } from '../../store/index.ts';
import { getJson, rangeJson } from '../state/json.ts';

interface StoredRules {
  version: number;
  rules: unknown;
  message: string;
  author: string;
  at: number;
}

/** The rules in force; `rules` null before any were applied. */
export async function readRules(store: Store): Promise<RemediationRulesView> {
  const got = await getJson<StoredRules>(store, keys.remediationRules);
  if (got === undefined) return { version: 0, rules: null, message: '', author: '', at: 0 };
  const checked = validateRemediationRules(got.value.rules);
  if (!checked.ok) {
    throw new DabbaError('DABBA_E_STORE', 'the stored remediation rules no longer validate', {
      details: { issues: checked.issues },
    });
  }
  const { rules: _raw, ...rest } = got.value;
  return { ...rest, rules: checked.rules };
}

/** Stores `rules` as the next version (compare-and-set on the previous one). */
export async function writeRules(
  store: Store,
  rules: RemediationRules,
  meta: { message: string; author: string },
  clock: Clock,
): Promise<RemediationRulesView> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const got = await getJson<StoredRules>(store, keys.remediationRules);
    const next: StoredRules = {
      version: (got?.value.version ?? 0) + 1,
      rules: { rules: rules.rules.map(ruleUserForm) },
      message: meta.message,
      author: meta.author,
      at: clock.now(),
    };
    const r = await store.txn({
      compare: [
        got === undefined
          ? { key: keys.remediationRules, target: 'create', op: '=', createRevision: 0 }
          : { key: keys.remediationRules, target: 'mod', op: '=', modRevision: got.kv.modRevision },
      ],
      success: [{ type: 'put', key: keys.remediationRules, value: JSON.stringify(next) }],
    });
    if (r.succeeded) return { ...next, rules };
  }
  throw new DabbaError(
    'DABBA_E_CONFLICT',
    'the remediation rules are being changed by someone else; try again',
  );
}

/** The log, oldest first; `since` (ms) keeps only records at or after it. */
export async function readLog(store: Store, since = 0): Promise<RemediationRecord[]> {
  const all = await rangeJson<RemediationRecord>(store, keys.remediationLogPrefix);
  return since > 0 ? all.filter((r) => r.at >= since) : all;
}

/** A new record, with its id and time. */
export function newRecord(clock: Clock, r: Omit<RemediationRecord, 'id' | 'at'>): RemediationRecord {
  return { id: shortId(8), at: clock.now(), ...r };
}
