/**
 * Whether any host can run a job's task at all, before placement: the runtimes the live hosts have
 * and the image the task names. Pure: the caller looks the image up (`imageKnown`). `dabba plan`
 * (POST /v1/jobs/NAME/plan) reports the answer and `dabba deploy` (PUT /v1/jobs/NAME) refuses the
 * job with it, before anything is stored.
 */
import type { HostView, JobSpec, Unrunnable } from '../model/index.ts';

/** What the check looks at in a host. */
export type HostKind = Pick<HostView, 'state' | 'runtime'>;

/** Runtimes that run a task from an image; the others (process) ignore `task.image`. */
const IMAGE_RUNTIMES = new Set(['oci']);

export function needsImage(runtime: string): boolean {
  return IMAGE_RUNTIMES.has(runtime);
}

/**
 * Undefined when some live host's runtime can run the task (or there are no live hosts yet: then
 * nothing is known and placement says why tasks wait). `imageKnown` is undefined when the server
 * keeps no image store (nothing to check against).
 */
export function unrunnable(
  spec: JobSpec,
  hosts: readonly HostKind[],
  imageKnown: boolean | undefined,
): Unrunnable | undefined {
  const live = hosts.filter((h) => h.state !== 'down');
  if (live.length === 0) return undefined;
  const runtimes = [...new Set(live.map((h) => h.runtime))].sort();
  const image = spec.task.image;
  if (live.some((h) => !needsImage(h.runtime))) return undefined;
  if (image === undefined) {
    return {
      code: 'NoImage',
      runtimes,
      message:
        `job ${spec.name} names no task.image, but every host runs tasks in containers ` +
        `(runtime ${runtimes.join(', ')}), which need one: add task.image (see dabba image ls; ` +
        `dabba image import|create adds one)`,
    };
  }
  if (imageKnown === false) {
    return {
      code: 'ImageNotFound',
      runtimes,
      image,
      message:
        `image "${image}" (task.image of job ${spec.name}) is not on the server, so no host can ` +
        `start its tasks: import it first (dabba image import FILE --name ${image}, or ` +
        `dabba image create ${image} --from-dir DIR; dabba image ls lists what there is)`,
    };
  }
  return undefined;
}
