/**
 * The model's file formats, a second public face beside index.ts: the job file, the dependency
 * (mesh) file and the remediation rules file, each as a zod schema, parsed from YAML text with every
 * problem at once and where it is, or checked as a JSON value; and the user forms the API sends back.
 *
 * Apart from index.ts because zod and yaml are most of what the model loads: a CLI command that
 * parses no file, the client and the web UI import index.ts only and start without them.
 */
export {
  describeValue,
  formatExactSize,
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
export { parseRemediationFile, remediationFileSchema, validateRemediationRules } from './remediation-file.ts';
