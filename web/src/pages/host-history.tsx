/**
 * A host as it was at a chosen moment (`GET /v1/hosts/ID/history?at=`, what `dabba host history`
 * prints): the snapshot nearest the time asked, CPU, memory, disk, network and pressure over its
 * interval, and its busiest processes with their tasks; previous/next step through the snapshots.
 * Needs a token covering every namespace (the processes' command lines are any namespace's).
 */
import { useEffect, useState } from 'preact/hooks';
import type { DabbaClient } from '../../../src/client/browser.ts';
import type { HistoryStep, HostHistorySnapshot } from '../../../src/model/host-history.ts';
import { ErrorLine } from '../components/widgets.tsx';
import { bytes, time } from '../format.ts';
import { errorText } from '../live.ts';
import { href } from '../route.ts';

const pct = (n: number): string => `${n.toFixed(1)}%`;

function Summary({ s }: { s: HostHistorySnapshot }) {
  return (
    <dl class="facts" data-testid="history-summary">
      <dt>Time</dt>
      <dd data-testid="history-time">
        {time(s.time)} (over the {(s.intervalMs / 1000).toFixed(1)} s before)
      </dd>
      <dt>CPU</dt>
      <dd>
        busy {pct(s.cpu.busyPercent)} of {s.cpu.cpus} · user {pct(s.cpu.userPercent)} · sys{' '}
        {pct(s.cpu.systemPercent)} · iowait {pct(s.cpu.iowaitPercent)} · load {s.load.join(' ')}
      </dd>
      <dt>Memory</dt>
      <dd>
        used {bytes(s.memory.usedBytes)} of {bytes(s.memory.totalBytes)} · available{' '}
        {bytes(s.memory.availableBytes)} · cache {bytes(s.memory.cachedBytes)}
      </dd>
      <dt>Disk, network</dt>
      <dd>
        read {bytes(s.disk.readBytesPerSec)}/s · write {bytes(s.disk.writeBytesPerSec)}/s · rx{' '}
        {bytes(s.net.rxBytesPerSec)}/s · tx {bytes(s.net.txBytesPerSec)}/s
        {s.pressure !== undefined &&
          ` · pressure cpu ${pct(s.pressure.cpu)} mem ${pct(s.pressure.memory)} io ${pct(s.pressure.io)}`}
      </dd>
    </dl>
  );
}

export function HostHistory(props: { client: DabbaClient; host: string }) {
  const [at, setAt] = useState('-30s');
  const [query, setQuery] = useState<{ at: string; step: HistoryStep }>({ at: '-30s', step: 'nearest' });
  const [snap, setSnap] = useState<HostHistorySnapshot | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [top, setTop] = useState(25);
  useEffect(() => {
    let live = true;
    props.client.hostHistory(props.host, query.at, query.step).then(
      (s) => live && (setSnap(s), setError(undefined)),
      (e: unknown) => live && (setSnap(undefined), setError(errorText(e))),
    );
    return () => {
      live = false;
    };
  }, [query]);
  const step = (to: number | undefined): void => {
    if (to !== undefined) setQuery({ at: String(to), step: 'nearest' });
  };
  return (
    <section class="card wide" aria-label="history">
      <h2>History</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ at: at.trim() === '' ? 'now' : at.trim(), step: 'nearest' });
        }}
      >
        <label>
          At
          <input value={at} onInput={(e) => setAt(e.currentTarget.value)} placeholder="-30s, now, ISO time" />
        </label>
        <button type="submit">Show</button>
        <button type="button" disabled={snap?.prev === undefined} onClick={() => step(snap?.prev)}>
          Previous
        </button>
        <button type="button" disabled={snap?.next === undefined} onClick={() => step(snap?.next)}>
          Next
        </button>
      </form>
      <ErrorLine error={error} />
      {snap !== undefined && (
        <>
          <Summary s={snap} />
          <table data-testid="processes">
            <caption class="sr-only">processes, busiest first</caption>
            <thead>
              <tr>
                <th>PID</th>
                <th>S</th>
                <th>CPU%</th>
                <th>RSS</th>
                <th>Task</th>
                <th>Command</th>
              </tr>
            </thead>
            <tbody>
              {snap.processes.slice(0, top).map((p) => (
                <tr key={p.pid}>
                  <td>{p.pid}</td>
                  <td>{p.state}</td>
                  <td>{p.cpuPercent.toFixed(1)}</td>
                  <td>{bytes(p.rssBytes)}</td>
                  <td>
                    {p.task !== undefined && p.job !== undefined ? (
                      <a href={href('jobs', p.job, 'tasks', p.task)}>{p.task}</a>
                    ) : (
                      '–'
                    )}
                  </td>
                  <td class="cmd">{p.command}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {snap.processes.length > top && (
            <button type="button" onClick={() => setTop(snap.processes.length)}>
              Show all {snap.processes.length} processes
            </button>
          )}
        </>
      )}
    </section>
  );
}
