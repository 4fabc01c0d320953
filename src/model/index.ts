export * from './deployment.ts';
export * from './event.ts';
export * from './explanation.ts';
export * from './host.ts';
export * from './job.ts';
export * from './keys.ts';
export * from './namespace.ts';
export * from './task.ts';
export * from './api.ts';
export {
  describeValue,
  formatExactSize,
  formatIssue,
  formatIssues,
  formatPath,
  parseJobFile,
  toUserForm,
  validateJob,
  type JobValidationResult,
} from './job-file.ts';
export {
  JOB_DEFAULTS,
  JOB_LIMITS,
  formatExactDuration,
  jobFileSchema,
  jobJsonSchema,
  jobSchemaFileText,
  type JobFileInput,
} from './job-schema.ts';
export * from './plan.ts';
export * from './task-network.ts';
export * from './exec-stream.ts';
export * from './auth-api.ts';
export * from './taskcontrol.ts';
