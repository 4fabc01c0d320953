/**
 * `DELETE /v1/images/:ref`: removes an image's name from the cluster's catalog (a tombstone every
 * server replica sees) and, at once on this replica, the blobs and unpacked layers that nothing else
 * reaches (another name, an image a live job uses); the other replicas drop theirs when they see the
 * tombstone (../images/shared-images.ts). An image a live job uses is refused unless `?force=1`:
 * its hosts keep their copy, but new hosts could not fetch it.
 */
import { DabbaError, NotFoundError } from '../../errors/index.ts';
import { canonicalName, isDigest, parseReference, type Digest } from '../../image/index.ts';
import { summaryOf, type ImageRecord } from '../images/catalog.ts';
import type { SharedImages } from '../images/shared-images.ts';
import { keys, type JobRecord } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import type { Router } from '../http/router.ts';
import type { EventLog } from '../state/events.ts';

/** The live jobs (not stopped) and the image digest each one's current version uses. */
async function liveJobImages(store: Store, images: SharedImages): Promise<{ job: string; digest: Digest }[]> {
  const out: { job: string; digest: Digest }[] = [];
  const { kvs } = await store.range(keys.jobsPrefix);
  for (const kv of kvs) {
    const job = JSON.parse(kv.value) as JobRecord;
    const ref = job.spec.task.image;
    if (job.status === 'stopped' || ref === undefined) continue;
    const digest = await images.resolve(ref).catch(() => undefined);
    if (digest !== undefined) out.push({ job: job.name, digest });
  }
  return out;
}

/** The record to leave a tombstone of: the catalog's, or one made from this replica's unpublished copy. */
async function recordOf(images: SharedImages, name: string, digest: Digest): Promise<ImageRecord> {
  const record = await images.catalog.get(name);
  if (record !== undefined) return record;
  const info = await images.local.load(name, digest);
  return { ...summaryOf(info), name, createdAt: 0, by: '' };
}

export function imageRemoveRoutes(
  router: Router,
  store: Store,
  images: SharedImages,
  events: EventLog,
): void {
  router.on('DELETE', '/v1/images/:ref', async ({ params, query }) => {
    const ref = params['ref'] ?? '';
    if (isDigest(ref) || parseReference(ref).digest !== undefined)
      throw new DabbaError(
        'DABBA_E_BAD_REQUEST',
        `remove an image by its name (NAME[:TAG]), not by digest: "${ref}" (see dabba image ls)`,
      );
    const digest = await images.resolve(ref);
    if (digest === undefined) throw new NotFoundError('image', ref);
    const live = await liveJobImages(store, images);
    const users = live.filter((u) => u.digest === digest).map((u) => u.job);
    if (users.length > 0 && query.get('force') !== '1')
      throw new DabbaError(
        'DABBA_E_CONFLICT',
        `image ${ref} is used by job${users.length > 1 ? 's' : ''} ${users.join(', ')}: stop ${users.length > 1 ? 'them' : 'it'} first, or remove it anyway with --force (hosts that have it keep it; others could not start its tasks)`,
        { details: { jobs: users } },
      );
    const name = canonicalName(parseReference(ref));
    await images.catalog.remove(await recordOf(images, name, digest));
    await images.local.untag(ref);
    const freed = await images.local.collectGarbage({ only: [digest], inUse: live.map((u) => u.digest) });
    await events.append([
      {
        kind: 'ImageRemoved',
        message: `image ${ref} removed (${digest}): ${freed.blobsRemoved} blobs and ${freed.layersRemoved} unpacked layers freed, ${freed.bytesFreed} bytes`,
      },
    ]);
    return { name: ref, digest, ...freed };
  });
}
