import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { DabbaClient } from '../client/index.ts';
import type { JobSpec } from '../model/index.ts';
import { fileFormats, invalidFile, readUserFile } from './file-loader.ts';

/**
 * Reads and validates a job file. Every problem is reported at once with file:line:column. A
 * relative `task.workingDir` is resolved against the job file's folder (like compose files).
 */
export async function loadJobFile(path: string): Promise<{ spec: JobSpec; userForm: unknown }> {
  const { parseJobFile, toUserForm } = await fileFormats();
  const r = parseJobFile(await readUserFile(path, 'job file'), path);
  if (!r.ok) throw invalidFile(path, 'job file', r.issues);
  const spec = r.spec;
  if (spec.task.workingDir !== undefined && !isAbsolute(spec.task.workingDir)) {
    spec.task.workingDir = resolve(dirname(resolve(path)), spec.task.workingDir);
  }
  return { spec, userForm: toUserForm(spec) };
}

/**
 * A job file, or a folder of job files for several runtimes: `job.RUNTIME.yaml` for the runtime in
 * use (e.g. job.oci.yaml for containers) if there is one, else `job.yaml`.
 */
export async function jobFileFor(path: string, runtime: string): Promise<string> {
  try {
    if (!(await stat(path)).isDirectory()) return path;
  } catch {
    return path;
  }
  const specific = join(path, `job.${runtime}.yaml`);
  try {
    await stat(specific);
    return specific;
  } catch {
    return join(path, 'job.yaml');
  }
}

export async function isFolder(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/**
 * `dabba deploy|plan PATH`: a file as is; for a folder, the file for the runtime the cluster's live
 * hosts run (when they all run the same one), said on `note`.
 */
export async function resolveJobPath(
  path: string,
  client: DabbaClient,
  note: (s: string) => void,
): Promise<string> {
  if (!(await isFolder(path))) return path;
  const runtimes = [
    ...new Set((await client.hosts()).filter((h) => h.state !== 'down').map((h) => h.runtime)),
  ];
  const file = await jobFileFor(path, runtimes.length === 1 ? (runtimes[0] ?? '') : '');
  note(
    `using ${file}${runtimes.length === 1 ? ` (the hosts run tasks with the ${runtimes[0] ?? ''} runtime)` : ''}\n`,
  );
  return file;
}
