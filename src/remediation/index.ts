export {
  evaluate,
  RETRY_FAILED_MS,
  type Decision,
  type HostFacts,
  type JobFacts,
  type RemediationState,
  type TaskFacts,
} from './evaluate.ts';
