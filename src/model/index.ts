export * from './deployment.ts';
export * from './event.ts';
export * from './explanation.ts';
export * from './host.ts';
export * from './host-command.ts';
export * from './job.ts';
export * from './keys.ts';
export * from './namespace.ts';
export * from './task.ts';
export * from './task-record.ts';
export * from './volume.ts';
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
export * from './host-history.ts';
export * from './telemetry.ts';
export * from './board.ts';
export * from './log-table.ts';
export * from './mesh.ts';
export * from './host-peers.ts';
export {
  MESH_DEFAULTS,
  RETRY_ON,
  meshFileSchema,
  meshJsonSchema,
  meshSchemaFileText,
} from './mesh-schema.ts';
export {
  diffMesh,
  meshUserForm,
  parseMeshFile,
  serviceUserForm,
  validateMeshFile,
  type MeshValidationResult,
} from './mesh-file.ts';
export * from './config.ts';
export * from './configdist.ts';
export * from './taskcontrol.ts';
export * from './remediation.ts';
export * from './mesh-stats.ts';
export * from './pools.ts';
