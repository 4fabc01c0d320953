/**
 * A task: its status and counters, and its log streaming (`GET /v1/tasks/ID/logs?follow=1`), with
 * follow (keep the newest line in view), search (only matching lines, matches marked) and
 * timestamps. The stream is the page's one stream; the status is loaded again on the job's events.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { PageProps } from '../app.tsx';
import { Badge, ErrorLine } from '../components/widgets.tsx';
import { bytes, time } from '../format.ts';
import { errorText, useLive } from '../live.ts';
import { href } from '../route.ts';

interface Line {
  n: number;
  stream: string;
  time?: number;
  text: string;
}

const MAX_LINES = 5000;

function useLogs(props: PageProps & { task: string }): { lines: Line[]; error: string | undefined } {
  const [lines, setLines] = useState<Line[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    const stop = new AbortController();
    let n = 0;
    let batch: Line[] = [];
    let frame = 0;
    const flush = (): void => {
      frame = 0;
      const add = batch;
      batch = [];
      setLines((old) => [...old, ...add].slice(-MAX_LINES));
    };
    void (async () => {
      try {
        for await (const l of props.client.logs(props.task, {
          follow: true,
          tail: 1000,
          signal: stop.signal,
        })) {
          batch.push({
            n: n++,
            stream: l.stream,
            text: l.text,
            ...(l.time === undefined ? {} : { time: l.time }),
          });
          if (frame === 0) frame = requestAnimationFrame(flush);
        }
      } catch (e) {
        if (!stop.signal.aborted) setError(`log stream: ${errorText(e)}`);
      }
    })();
    return () => {
      stop.abort();
      if (frame !== 0) cancelAnimationFrame(frame);
    };
  }, [props.client, props.task]);
  return { lines, error };
}

function Highlight({ text, term }: { text: string; term: string }) {
  if (term === '') return <>{text}</>;
  const parts = text.split(term);
  return (
    <>
      {parts.map((p, i) => (
        <span key={i}>
          {i > 0 && <mark>{term}</mark>}
          {p}
        </span>
      ))}
    </>
  );
}

export function TaskPage(props: PageProps & { job: string; task: string }) {
  const { client, job, task } = props;
  const live = useLive(client, async () => (await client.jobTasks(job)).find((t) => t.id === task), {
    key: `task:${task}`,
    job,
  });
  const logs = useLogs(props);
  const [follow, setFollow] = useState(true);
  const [stamps, setStamps] = useState(false);
  const [term, setTerm] = useState('');
  const box = useRef<HTMLPreElement>(null);
  const shown = term === '' ? logs.lines : logs.lines.filter((l) => l.text.includes(term));
  useEffect(() => {
    if (follow && box.current !== null) box.current.scrollTop = box.current.scrollHeight;
  }, [shown.length, follow]);
  const t = live.data;
  return (
    <>
      <p class="crumbs">
        <a href="#/jobs">Jobs</a> / <a href={href('jobs', job)}>{job}</a> / {task}
      </p>
      <h1>
        {task} {t !== undefined && <Badge state={t.state} />}
      </h1>
      <ErrorLine error={live.error} />
      {t !== undefined && (
        <dl class="facts">
          <dt>Health</dt>
          <dd>{t.healthy ? 'healthy' : 'not healthy'}</dd>
          <dt>Restarts</dt>
          <dd>{t.restarts}</dd>
          <dt>Host</dt>
          <dd>{t.host ?? 'unplaced'}</dd>
          <dt>Address</dt>
          <dd>{t.address ?? '-'}</dd>
          <dt>Version</dt>
          <dd>v{t.version}</dd>
          <dt>PID</dt>
          <dd>{t.pid ?? '-'}</dd>
          <dt>CPU</dt>
          <dd>{t.usage === null ? '-' : `${t.usage.cpuSeconds.toFixed(2)} s`}</dd>
          <dt>Memory</dt>
          <dd>{t.usage === null ? '-' : bytes(t.usage.memoryBytes)}</dd>
          {t.lastExit !== null && (
            <>
              <dt>Last exit</dt>
              <dd>{JSON.stringify(t.lastExit)}</dd>
            </>
          )}
        </dl>
      )}
      <section aria-labelledby="logs-h">
        <h2 id="logs-h">Logs</h2>
        <div class="filters">
          <label>
            Search
            <input type="search" value={term} onInput={(e) => setTerm(e.currentTarget.value)} />
          </label>
          <label class="check">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} />
            Follow
          </label>
          <label class="check">
            <input type="checkbox" checked={stamps} onChange={(e) => setStamps(e.currentTarget.checked)} />
            Timestamps
          </label>
          <span>
            {shown.length} of {logs.lines.length} lines
          </span>
        </div>
        <ErrorLine error={logs.error} />
        <pre class="logs" ref={box} tabIndex={0} aria-label="log lines" data-testid="logs">
          {shown.map((l) => (
            <div key={l.n} class={l.stream === 'stderr' ? 'stderr' : ''}>
              {stamps && l.time !== undefined && <span class="when">{time(l.time)} </span>}
              <Highlight text={l.text} term={term} />
            </div>
          ))}
        </pre>
      </section>
    </>
  );
}
