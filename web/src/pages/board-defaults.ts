/**
 * The boards a page shows when none is stored under their name: `fleet` (what every agent
 * collects: hosts' CPU and memory, tasks' by job) and `job.NAME` (a job's requests, errors and p99
 * latency from the conventional counters a service exports, and its tasks' CPU and memory).
 * Saving either stores it, edited, under that name.
 */
import type { PutBoardRequest } from '../../../src/model/board.ts';

export const FLEET_BOARD: PutBoardRequest = {
  title: 'Fleet',
  panels: [
    {
      title: 'CPU busy by host (cores)',
      query: {
        name: 'host_cpu_seconds_total',
        rate: true,
        where: ['mode!=idle', 'mode!=iowait'],
        by: ['host'],
      },
    },
    { title: 'Memory available by host', query: { name: 'host_memory_available_bytes', by: ['host'] } },
    { title: 'Task CPU by job (cores)', query: { name: 'task_cpu_seconds_total', rate: true, by: ['job'] } },
    { title: 'Task memory by job', query: { name: 'task_memory_bytes', by: ['job'] } },
  ],
};

/** `job.NAME`: the stored name of a job's board. */
export function jobBoardName(job: string): string {
  return `job.${job}`;
}

export function jobOfBoard(name: string): string | undefined {
  return name.startsWith('job.') ? name.slice(4) : undefined;
}

/**
 * A job's default board. Requests, errors and latency read the names most HTTP services export
 * (`http_requests_total` with a `code` label, the `http_request_duration_seconds` histogram);
 * a service that counts under other names edits the board.
 */
export function jobBoard(job: string, namespace: string): PutBoardRequest {
  const where = [`job=${job}`, `namespace=${namespace}`];
  return {
    title: `Job ${job}`,
    panels: [
      { title: 'Requests/s', query: { name: 'http_requests_total', rate: true, where, by: ['task'] } },
      {
        title: 'Errors/s (5xx)',
        query: { name: 'http_requests_total', rate: true, where: [...where, 'code=~5..'], by: ['task'] },
      },
      {
        title: 'Latency p99 (s)',
        query: { name: 'http_request_duration_seconds_bucket', rate: true, where, by: ['le'] },
        quantile: 0.99,
      },
      { title: 'CPU (cores)', query: { name: 'task_cpu_seconds_total', rate: true, where, by: ['task'] } },
      { title: 'Memory', query: { name: 'task_memory_bytes', where, by: ['task'] } },
    ],
  };
}

/** The default for a board name, or undefined for a name that has none. */
export function defaultBoard(name: string, namespace: string): PutBoardRequest | undefined {
  if (name === 'fleet') return FLEET_BOARD;
  const job = jobOfBoard(name);
  return job === undefined ? undefined : jobBoard(job, namespace);
}
