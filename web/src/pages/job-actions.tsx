/**
 * The job page's write buttons (promote, rollback, scale, stop), each behind a confirmation that
 * shows what will happen: the server's plan (`POST /v1/jobs/NAME/plan`) for a scale, the diff of
 * the two versions for a rollback, the tasks that stop for a stop. Only shown to tokens that write.
 */
import { useState } from 'preact/hooks';
import type { DabbaClient } from '../../../src/client/browser.ts';
import type { JobPlanView, JobVersionRecord, JobView } from '../../../src/model/index.ts';
import type { Pending } from '../components/confirm.tsx';
import { Diff } from '../components/widgets.tsx';

export function PlanView({ plan }: { plan: JobPlanView }) {
  return (
    <div data-testid="plan">
      <p>
        {plan.changed ? `Version ${plan.currentVersion ?? 0} → ${plan.nextVersion}` : 'Nothing changes.'} ·{' '}
        {plan.replicas} replicas
      </p>
      <ul>
        {plan.add.map((a, i) => (
          <li key={`a${i}`}>
            start {a.count} on {a.host ?? 'no host (cannot be placed)'}
          </li>
        ))}
        {plan.stop.map((s) => (
          <li key={s.task}>
            stop {s.task} on {s.host ?? '-'}
          </li>
        ))}
        {plan.replace.length > 0 && <li>replace {plan.replace.length} tasks</li>}
        {plan.keep.length > 0 && <li>keep {plan.keep.length} tasks as they are</li>}
        {plan.failures.map((f, i) => (
          <li key={`f${i}`} class="warn">
            {JSON.stringify(f)}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function specText(v: JobVersionRecord | undefined): string {
  return v === undefined ? '' : JSON.stringify(v.spec, null, 2);
}

export function JobActions(props: {
  client: DabbaClient;
  view: JobView;
  versions: JobVersionRecord[];
  ask: (p: Pending) => void;
}) {
  const { client, view, versions, ask } = props;
  const name = view.job;
  const [replicas, setReplicas] = useState(String(view.replicas));
  const older = versions.filter((v) => v.version < view.version).sort((a, b) => b.version - a.version);
  const [target, setTarget] = useState<string>('');
  const to = Number(target || older[0]?.version || 0);
  const current = versions.find((v) => v.version === view.version);
  const dep = view.deployment;
  const canPromote =
    dep !== null && dep.state === 'in-progress' && dep.phase !== undefined && dep.promoted !== true;
  return (
    <section class="actions-bar" aria-label="job actions">
      {canPromote && (
        <button
          type="button"
          onClick={() =>
            ask({
              title: `Promote ${name} v${view.version}`,
              confirm: 'Promote',
              preview: () =>
                Promise.resolve(
                  <p>
                    The canaries ({dep.canaries ?? 0}, {dep.healthy} healthy) are kept and the rollout
                    continues to all {dep.desired} tasks of v{dep.version}.
                  </p>,
                ),
              run: () => client.promoteJob(name),
            })
          }
        >
          Promote
        </button>
      )}
      {older.length > 0 && (
        <span class="group">
          <label>
            Roll back to
            <select value={String(to)} onChange={(e) => setTarget(e.currentTarget.value)}>
              {older.map((v) => (
                <option key={v.version} value={String(v.version)}>
                  v{v.version}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            onClick={() =>
              ask({
                title: `Roll back ${name} to v${to}`,
                confirm: 'Roll back',
                preview: () =>
                  Promise.resolve(
                    <>
                      <p>
                        A new version with v{to}'s spec is rolled out, replacing v{view.version}'s tasks under
                        the update budget. What changes:
                      </p>
                      <Diff
                        label={`v${view.version} to v${to}`}
                        a={specText(current)}
                        b={specText(versions.find((v) => v.version === to))}
                      />
                    </>,
                  ),
                run: () => client.rollbackJob(name, to),
              })
            }
          >
            Roll back
          </button>
        </span>
      )}
      <span class="group">
        <label>
          Replicas
          <input
            type="number"
            min={0}
            value={replicas}
            class="narrow"
            onInput={(e) => setReplicas(e.currentTarget.value)}
          />
        </label>
        <button
          type="button"
          onClick={() => {
            const n = Number(replicas);
            ask({
              title: `Scale ${name} to ${n}`,
              confirm: 'Scale',
              preview: async () => {
                const spec = (typeof view.spec === 'object' && view.spec !== null ? view.spec : {}) as Record<
                  string,
                  unknown
                >;
                return <PlanView plan={await client.planJob(name, { ...spec, replicas: n })} />;
              },
              run: () => client.scaleJob(name, n),
            });
          }}
        >
          Scale
        </button>
      </span>
      {view.status === 'active' && (
        <button
          type="button"
          class="danger"
          onClick={() =>
            ask({
              title: `Stop ${name}`,
              confirm: 'Stop the job',
              preview: () =>
                Promise.resolve(
                  <>
                    <p>
                      Every task of {name} stops ({view.tasks.filter((t) => t.desired === 'run').length}{' '}
                      running or wanted):
                    </p>
                    <ul>
                      {view.tasks
                        .filter((t) => t.desired === 'run')
                        .map((t) => (
                          <li key={t.id}>
                            {t.id} on {t.host ?? '-'}
                          </li>
                        ))}
                    </ul>
                  </>,
                ),
              run: () => client.stopJob(name),
            })
          }
        >
          Stop
        </button>
      )}
    </section>
  );
}
