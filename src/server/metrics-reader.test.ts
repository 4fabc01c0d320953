/** The autoscaler's query, as parameters a peer replica parses back into the very same query. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetricsQuery } from '../telemetry/server/index.ts';
import type { Query } from '../telemetry/tsdb/index.ts';
import { queryParams } from './metrics-reader.ts';

test('queryParams round-trips through the route parser', () => {
  const queries: Query[] = [
    {
      name: 'hello_requests_total',
      matchers: [
        { label: 'job', op: '=', value: 'web' },
        { label: 'namespace', op: '=', value: 'team-a' },
        { label: 'code', op: '=', value: '2=00' },
      ],
      start: 1_765_000_000_000,
      end: 1_765_000_060_000,
      step: 3000,
      rate: true,
      agg: 'sum',
      by: [],
    },
    {
      name: 'queue_depth',
      matchers: [{ label: 'job', op: '=', value: 'web' }],
      start: 1_765_000_000_000,
      end: 1_765_000_008_000,
      step: 1000,
      rate: false,
      over: 'avg',
      agg: 'sum',
      by: [],
    },
  ];
  for (const q of queries) {
    const back = parseMetricsQuery(queryParams(q, 'team-a'), 0).query;
    assert.deepEqual(back, q);
  }
});
