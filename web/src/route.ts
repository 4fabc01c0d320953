/** Hash routes (`#/jobs/NAME`): the server serves one page, and the path never carries state it logs. */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'overview' }
  | { page: 'jobs'; query: URLSearchParams }
  | { page: 'job'; job: string }
  | { page: 'task'; job: string; task: string }
  | { page: 'hosts' }
  | { page: 'host'; host: string }
  | { page: 'dashboards'; board: string }
  | { page: 'mesh' }
  | { page: 'configs' }
  | { page: 'config'; path: string }
  | { page: 'tables'; query: URLSearchParams };

export function parseRoute(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [a, b, c, d] = parts;
  if (a === 'jobs' && b !== undefined && c === 'tasks' && d !== undefined)
    return { page: 'task', job: b, task: d };
  if (a === 'jobs' && b !== undefined) return { page: 'job', job: b };
  if (a === 'jobs') return { page: 'jobs', query: new URLSearchParams(search) };
  if (a === 'hosts' && b !== undefined) return { page: 'host', host: b };
  if (a === 'hosts') return { page: 'hosts' };
  if (a === 'dashboards') return { page: 'dashboards', board: b ?? 'fleet' };
  if (a === 'mesh') return { page: 'mesh' };
  if (a === 'configs' && b !== undefined) return { page: 'config', path: b };
  if (a === 'configs') return { page: 'configs' };
  if (a === 'tables') return { page: 'tables', query: new URLSearchParams(search) };
  return { page: 'overview' };
}

export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = (): void => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
