/**
 * Job files for testbed runs: examples/hello (a real HTTP service) with short probe intervals and a
 * quick rollout, so a fleet test takes seconds, not minutes. Written as JSON, which is valid YAML.
 */
import { join } from 'node:path';
import { REPO } from './options.ts';

export const HELLO_DIR = join(REPO, 'examples', 'hello');

export interface HelloJobOptions {
  name: string;
  replicas: number;
  /** GREETING of the tasks: changing it makes a new version. */
  greeting?: string;
  /** Default: node server.mjs. */
  command?: string[];
  cpu?: number | string;
  /** Spread attributes, most important first. */
  spread?: { attribute: string; min?: number }[];
  constraints?: Record<string, unknown>[];
  maxUnavailable?: number;
  maxSurge?: number;
  deadline?: string;
  autoRollback?: boolean;
  /** Declare the service's counters (task.metrics on its http port, /metrics) for the agents. */
  metrics?: boolean;
}

export function helloJob(o: HelloJobOptions): string {
  const job = {
    name: o.name,
    replicas: o.replicas,
    task: {
      command: o.command ?? ['node', 'server.mjs'],
      workingDir: HELLO_DIR,
      env: { GREETING: o.greeting ?? 'hello' },
      resources: { cpu: o.cpu ?? 0.1, memory: '64Mi', pids: 64 },
      ports: [{ name: 'http', port: 8080 }],
      health: {
        liveness: { http: { port: 'http', path: '/healthz' }, interval: '500ms', timeout: '3s', failures: 3 },
        readiness: { http: { port: 'http', path: '/healthz' }, interval: '250ms', timeout: '1s' },
      },
      restart: { policy: 'always', backoff: '200ms', maxBackoff: '2s' },
      stopGracePeriod: '3s',
      ...(o.metrics === true ? { metrics: { port: 'http', path: '/metrics' } } : {}),
    },
    update: {
      maxUnavailable: o.maxUnavailable ?? 1,
      maxSurge: o.maxSurge ?? 1,
      minHealthy: '1s',
      deadline: o.deadline ?? '60s',
      autoRollback: o.autoRollback ?? true,
    },
    placement: {
      spread: o.spread ?? [],
      constraints: o.constraints ?? [],
    },
  };
  return JSON.stringify(job, null, 2) + '\n';
}
