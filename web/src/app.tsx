/**
 * The shell: login when there is no (valid) token, else the navigation, the theme switch, logout,
 * and the page the hash names. The identity (`GET /v1/whoami`) decides the namespace shown and
 * whether write buttons appear.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { DabbaClient } from '../../src/client/browser.ts';
import { errorText } from './live.ts';
import { ConfigPage, Configs } from './pages/configs.tsx';
import { Dashboards } from './pages/dashboards.tsx';
import { Hosts } from './pages/hosts.tsx';
import { HostPage } from './pages/host.tsx';
import { JobPage } from './pages/job.tsx';
import { Jobs } from './pages/jobs.tsx';
import { Login } from './pages/login.tsx';
import { MeshPage } from './pages/mesh.tsx';
import { Overview } from './pages/overview.tsx';
import { Tables } from './pages/tables.tsx';
import { TaskPage } from './pages/task.tsx';
import { useRoute, type Route } from './route.ts';
import {
  clientFor,
  forgetToken,
  identify,
  namespaceFor,
  storedToken,
  storeToken,
  type Identity,
} from './session.ts';

export interface PageProps {
  client: DabbaClient;
  me: Identity;
  write: boolean;
}

type Theme = 'auto' | 'light' | 'dark';

function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(
    () => (localStorage.getItem('dabba.theme') as Theme | null) ?? 'auto',
  );
  useEffect(() => {
    if (theme === 'auto') delete document.documentElement.dataset['theme'];
    else document.documentElement.dataset['theme'] = theme;
    localStorage.setItem('dabba.theme', theme);
  }, [theme]);
  return [theme, setTheme];
}

export function App() {
  const [token, setToken] = useState(storedToken);
  const [me, setMe] = useState<Identity | undefined>(undefined);
  const [loginError, setLoginError] = useState<string | undefined>(undefined);
  const [theme, setTheme] = useTheme();
  const route = useRoute();
  useEffect(() => {
    if (token === undefined) return;
    let live = true;
    identify(clientFor(token)).then(
      (who) => live && setMe(who),
      (e: unknown) => {
        if (!live) return;
        forgetToken();
        setToken(undefined);
        setMe(undefined);
        setLoginError(`that token was not accepted: ${errorText(e)}`);
      },
    );
    return () => {
      live = false;
    };
  }, [token]);
  const client = useMemo(
    () => (token === undefined || me === undefined ? undefined : clientFor(token, namespaceFor(me))),
    [token, me],
  );
  if (token === undefined)
    return (
      <Login
        error={loginError}
        onLogin={(t, remember) => {
          storeToken(t, remember);
          setLoginError(undefined);
          setToken(t);
        }}
      />
    );
  if (client === undefined || me === undefined) return <p class="loading">Signing in…</p>;
  const logout = (): void => {
    forgetToken();
    setMe(undefined);
    setToken(undefined);
  };
  const props: PageProps = { client, me, write: me.role === 'deployer' || me.role === 'admin' };
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <nav aria-label="main">
          <span class="brand">Dabba</span>
          <NavLink route={route} page="overview" to="#/" text="Overview" />
          <NavLink route={route} page="jobs" to="#/jobs" text="Jobs" />
          <NavLink route={route} page="hosts" to="#/hosts" text="Hosts" />
          <NavLink route={route} page="dashboards" to="#/dashboards" text="Dashboards" />
          <NavLink route={route} page="mesh" to="#/mesh" text="Mesh" />
          <NavLink route={route} page="configs" to="#/configs" text="Configs" />
          <NavLink route={route} page="tables" to="#/tables" text="Tables" />
        </nav>
        <div class="who">
          <span data-testid="identity">
            {me.name} ({me.role}, {namespaceFor(me)})
          </span>
          <label>
            <span class="sr-only">Theme</span>
            <select
              value={theme}
              onChange={(e) => setTheme(e.currentTarget.value as Theme)}
              aria-label="Theme"
            >
              <option value="auto">Auto</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          <button type="button" onClick={logout}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <PageFor route={route} props={props} />
      </main>
    </div>
  );
}

function NavLink(props: { route: Route; page: Route['page']; to: string; text: string }) {
  const current =
    props.route.page === props.page ||
    (props.page === 'jobs' && (props.route.page === 'job' || props.route.page === 'task')) ||
    (props.page === 'hosts' && props.route.page === 'host') ||
    (props.page === 'configs' && props.route.page === 'config');
  return (
    <a href={props.to} aria-current={current ? 'page' : undefined}>
      {props.text}
    </a>
  );
}

function PageFor({ route, props }: { route: Route; props: PageProps }) {
  switch (route.page) {
    case 'overview':
      return <Overview {...props} />;
    case 'jobs':
      return <Jobs {...props} query={route.query} />;
    case 'job':
      return <JobPage key={route.job} {...props} job={route.job} />;
    case 'task':
      return <TaskPage key={route.task} {...props} job={route.job} task={route.task} />;
    case 'hosts':
      return <Hosts {...props} />;
    case 'host':
      return <HostPage key={route.host} {...props} host={route.host} />;
    case 'dashboards':
      return <Dashboards key={route.board} {...props} board={route.board} />;
    case 'mesh':
      return <MeshPage {...props} />;
    case 'configs':
      return <Configs {...props} />;
    case 'config':
      return <ConfigPage key={route.path} {...props} path={route.path} />;
    case 'tables':
      return <Tables {...props} query={route.query} />;
  }
}
