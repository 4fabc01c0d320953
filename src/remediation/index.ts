export {
  evaluate,
  RETRY_FAILED_MS,
  type CounterFacts,
  type Decision,
  type HostFacts,
  type JobFacts,
  type RemediationState,
  type TaskFacts,
} from './evaluate.ts';
export { counterFacts, counterGroups, counterSpan, type CounterSeries } from './counters.ts';
