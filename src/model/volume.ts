/**
 * Where a job's volumes live (docs/volumes.md): one record per task slot, written by the scheduler
 * when it places the slot's first task on a host, and read back to place every later task of the
 * slot on the same host. Removed when the job is purged; each agent then deletes the directories
 * recorded for it no more.
 */

/** The record under /volumes/JOB/SLOT. */
export interface VolumeRecord {
  /** The job's id (`NS:NAME` outside the default namespace). */
  job: string;
  slot: number;
  /** The host whose data dir holds the slot's volumes. */
  host: string;
  /** Names of the volumes, as the job declared them when the record was written. */
  names: string[];
  createdAt: number;
  /**
   * Since when the scheduler has seen `host` down while the slot needed placing: its task waits for
   * the host until `placement.volumeWait` has passed, then gets fresh volumes elsewhere. Cleared
   * when the host is back.
   */
  hostDownSince?: number;
  /** When these volumes replaced earlier ones on another host (that host was down or gone). */
  replaced?: { host: string; why: string };
}

/** `DABBA_VOLUME_<NAME>`: the variable a task finds a volume's path in (`-` as `_`, upper case). */
export function volumeEnvName(name: string): string {
  return `DABBA_VOLUME_${name.toUpperCase().replace(/-/g, '_')}`;
}
