/**
 * FB303-style counters for any Node service (no dependencies beyond Node):
 *
 *   import { incrementCounter, metricsHandler } from 'dabba/sdk/counters';
 *   incrementCounter('hello_requests_total');
 *   // in the request handler: if (metricsHandler()(req, res)) return;
 *
 * The module-level functions use one default registry; make a CounterRegistry for more.
 * `/metrics` answers Prometheus text (OpenMetrics or JSON by Accept), `/counters` the flat JSON map;
 * declare the port and path in the job file (`task.metrics: { port: http, path: /metrics }`) and
 * the Dabba agent collects them.
 */
import { metricsHandler as handlerFor, serveMetrics as serveFor, type HandlerOptions } from './http.ts';
import type { Labels } from './names.ts';
import { CounterRegistry, type MetricKind } from './registry.ts';

export { CounterRegistry, DEFAULT_BUCKETS, MAX_SERIES, type MetricKind } from './registry.ts';
export type { Labels } from './names.ts';
export {
  renderOpenMetrics,
  renderPrometheus,
  renderJson,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  type ExpositionFormat,
} from './exposition.ts';
export type { HandlerOptions } from './http.ts';

/** The process's default registry. */
export const defaultRegistry = new CounterRegistry();

export const incrementCounter = (name: string, by?: number, labels?: Labels): number =>
  defaultRegistry.incrementCounter(name, by, labels);
export const setCounter = (name: string, value: number, labels?: Labels): void =>
  defaultRegistry.setCounter(name, value, labels);
export const setGauge = (name: string, value: number, labels?: Labels): void =>
  defaultRegistry.setGauge(name, value, labels);
export const incrementGauge = (name: string, by?: number, labels?: Labels): number =>
  defaultRegistry.incrementGauge(name, by, labels);
export const defineHistogram = (name: string, buckets?: readonly number[], help?: string): void =>
  defaultRegistry.defineHistogram(name, buckets, help);
export const observe = (name: string, value: number, labels?: Labels): void =>
  defaultRegistry.observe(name, value, labels);
export const startTimer = (name: string, labels?: Labels): (() => number) =>
  defaultRegistry.startTimer(name, labels);
export const describe = (name: string, kind: MetricKind, help: string): void =>
  defaultRegistry.describe(name, kind, help);
export const getCounters = (): Record<string, number> => defaultRegistry.getCounters();

/** A handler for the default registry (or the one given). */
export const metricsHandler = (options: HandlerOptions & { registry?: CounterRegistry } = {}) =>
  handlerFor(options.registry ?? defaultRegistry, options);
/** A server of its own for the default registry (or the one given). */
export const serveMetrics = (
  options: HandlerOptions & { port?: number; host?: string; registry?: CounterRegistry } = {},
) => serveFor(options.registry ?? defaultRegistry, options);
