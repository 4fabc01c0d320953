/**
 * The config store (`/v1/configs`, docs/config.md): every path of the namespace with its latest
 * version; a path's page has its history, a diff between any two versions, and the rollout status
 * (which version each host has on disk). Writers may revert to an older version, after seeing the
 * diff it brings.
 */
import { useEffect, useState } from 'preact/hooks';
import type { DabbaClient } from '../../../src/client/browser.ts';
import type { ConfigStatusView, ConfigVersion } from '../../../src/model/config.ts';
import type { PageProps } from '../app.tsx';
import { ConfirmDialog, type Pending } from '../components/confirm.tsx';
import { Badge, Diff, ErrorLine } from '../components/widgets.tsx';
import { ago, bytes, time } from '../format.ts';
import { errorText, useLive } from '../live.ts';
import { href } from '../route.ts';

/** At most this much of a version is shown (and diffed). */
const SHOWN_BYTES = 256 * 1024;

async function text(client: DabbaClient, path: string, version: number): Promise<string> {
  const s = await client.configs().contentStream(path, { version });
  const decoder = new TextDecoder();
  let out = '';
  for await (const chunk of s.body) {
    out += decoder.decode(chunk, { stream: true });
    if (out.length > SHOWN_BYTES) return `${out.slice(0, SHOWN_BYTES)}\n… (${bytes(s.size)} in all)`;
  }
  return out + decoder.decode();
}

export function Configs({ client }: PageProps) {
  const live = useLive(client, () => client.configs().list(), { key: 'configs', coalesceMs: 1000 });
  return (
    <>
      <h1>Configs</h1>
      <ErrorLine error={live.error} />
      <table data-testid="configs">
        <thead>
          <tr>
            <th>Path</th>
            <th>Version</th>
            <th>Format</th>
            <th>Size</th>
            <th>Changed</th>
            <th>Message</th>
          </tr>
        </thead>
        <tbody>
          {(live.data ?? []).map((c) => (
            <tr key={c.path} data-config={c.path}>
              <td>
                <a href={href('configs', c.path)}>{c.path}</a>
              </td>
              <td>v{c.version}</td>
              <td>{c.format}</td>
              <td>{bytes(c.size)}</td>
              <td>
                {ago(c.at)} by {c.author}
              </td>
              <td>{c.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {live.data?.length === 0 && <p class="muted">No configs in this namespace.</p>}
    </>
  );
}

function Rollout({ status }: { status: ConfigStatusView }) {
  return (
    <table data-testid="rollout">
      <caption>Rollout: v{status.latest.version} is the latest</caption>
      <thead>
        <tr>
          <th>Host</th>
          <th>Has</th>
          <th>Since</th>
        </tr>
      </thead>
      <tbody>
        {status.hosts.length === 0 && (
          <tr>
            <td colSpan={3} class="muted">
              No host has reported this config (no running task mounts it).
            </td>
          </tr>
        )}
        {status.hosts.map((h) => (
          <tr key={h.host} data-host={h.host}>
            <td>
              <a href={href('hosts', h.host)}>{h.host}</a>
            </td>
            <td>
              <Badge state={h.version === status.latest.version ? 'healthy' : 'pending'}>v{h.version}</Badge>
            </td>
            <td>{ago(h.at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function VersionDiff(props: { client: DabbaClient; path: string; versions: ConfigVersion[] }) {
  const newest = props.versions[0]?.version ?? 1;
  const [a, setA] = useState(Math.max(1, newest - 1));
  const [b, setB] = useState(newest);
  const [texts, setTexts] = useState<[string, string] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    let live = true;
    Promise.all([text(props.client, props.path, a), text(props.client, props.path, b)]).then(
      (t) => live && (setTexts(t), setError(undefined)),
      (e: unknown) => live && setError(errorText(e)),
    );
    return () => {
      live = false;
    };
  }, [a, b, newest]);
  const pick = (label: string, value: number, set: (n: number) => void) => (
    <label>
      {label}
      <select value={String(value)} onChange={(e) => set(Number(e.currentTarget.value))}>
        {props.versions.map((v) => (
          <option key={v.version} value={String(v.version)}>
            v{v.version}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <section aria-label="diff">
      <h2>Diff</h2>
      <div class="filters">
        {pick('From', a, setA)}
        {pick('To', b, setB)}
      </div>
      <ErrorLine error={error} />
      {texts !== undefined && <Diff a={texts[0]} b={texts[1]} label={`v${a} to v${b}`} />}
    </section>
  );
}

export function ConfigPage(props: PageProps & { path: string }) {
  const { client, write, path } = props;
  const live = useLive(
    client,
    async () => {
      const [versions, status] = await Promise.all([
        client.configs().history(path),
        client.configs().status(path),
      ]);
      return { versions: [...versions].sort((x, y) => y.version - x.version), status };
    },
    { key: `config ${path}`, coalesceMs: 1000 },
  );
  const [pending, setPending] = useState<Pending | undefined>(undefined);
  const d = live.data;
  const revert = (to: number): void =>
    setPending({
      title: `Revert ${path} to v${to}`,
      preview: async () => {
        const latest = d?.status.latest.version ?? to;
        const [now, then] = await Promise.all([text(client, path, latest), text(client, path, to)]);
        return <Diff a={now} b={then} label={`v${latest} to v${to}`} />;
      },
      confirm: 'Revert',
      run: () => client.configs().revert(path, to, `reverted to v${to} from the web UI`),
    });
  return (
    <>
      <p class="crumbs">
        <a href="#/configs">Configs</a> / {path}
      </p>
      <h1>{path}</h1>
      <ErrorLine error={live.error} />
      {d !== undefined && (
        <>
          <Rollout status={d.status} />
          <h2>History</h2>
          <table data-testid="versions">
            <thead>
              <tr>
                <th>Version</th>
                <th>When</th>
                <th>Author</th>
                <th>Message</th>
                <th>Size</th>
                {write && <th>Action</th>}
              </tr>
            </thead>
            <tbody>
              {d.versions.map((v) => (
                <tr key={v.version} data-version={v.version}>
                  <td>
                    v{v.version}
                    {v.revertOf !== undefined && ` (= v${v.revertOf})`}
                  </td>
                  <td>{time(v.at)}</td>
                  <td>{v.author}</td>
                  <td>{v.message}</td>
                  <td>{bytes(v.size)}</td>
                  {write && (
                    <td>
                      {v.version !== d.status.latest.version && (
                        <button type="button" onClick={() => revert(v.version)}>
                          Revert to v{v.version}
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
          {d.versions.length > 0 && <VersionDiff client={client} path={path} versions={d.versions} />}
        </>
      )}
      <ConfirmDialog pending={pending} onClose={(done) => (setPending(undefined), done && live.reload())} />
    </>
  );
}
