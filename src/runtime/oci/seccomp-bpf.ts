/**
 * The seccomp profile compiled to BPF once, for crun's `run.oci.seccomp_bpf_data` annotation
 * (crun(1): "crun ignores the seccomp section in the OCI configuration file and use the specified
 * data as the raw data to the seccomp(SECCOMP_SET_MODE_FILTER) syscall", base64). Without it crun
 * parses the profile's few hundred rules from config.json and compiles them (or finds them in its
 * cache by a hash of them) at every start: measured here, `crun run -d` took 122 ms with the
 * profile and 73 ms with the precompiled filter (67 ms with no seccomp at all).
 *
 * The compiler is libseccomp itself, through crun: the first container created with the profile
 * leaves the program crun loaded in its state directory (`<root>/<id>/seccomp.bpf`, the raw
 * sock_filter array); it is kept, under STATE/seccomp/<sha256 of the profile>.bpf, and every later
 * container gets it instead of the profile. A program of the wrong shape is not used (the profile
 * is then handed over as before).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SeccompProfile } from './seccomp.ts';
import { writeJsonAtomic } from './task-record.ts';

/** struct sock_filter: u16 code, u8 jt, u8 jf, u32 k. BPF_MAXINSNS is 4096. */
const INSN = 8;
const MAX_INSNS = 4096;

function usable(bpf: Buffer): boolean {
  return bpf.length >= INSN && bpf.length % INSN === 0 && bpf.length / INSN <= MAX_INSNS;
}

export class PrecompiledSeccomp {
  private readonly file: string;
  private readonly dir: string;
  private bpf: string | undefined;
  private loaded: Promise<void> | undefined;

  constructor(stateDir: string, profile: SeccompProfile) {
    const key = createHash('sha256').update(JSON.stringify(profile)).digest('hex');
    this.dir = join(stateDir, 'seccomp');
    this.file = join(this.dir, `${key}.json`);
  }

  /** The program (base64), once one was captured (on this host, by this or an earlier agent). */
  async get(): Promise<string | undefined> {
    this.loaded ??= (async () => {
      const saved = await readFile(this.file, 'utf8').catch(() => undefined);
      if (saved === undefined) return;
      try {
        const v = (JSON.parse(saved) as { bpf?: unknown }).bpf;
        if (typeof v === 'string' && usable(Buffer.from(v, 'base64'))) this.bpf ??= v;
      } catch {
        // a damaged file: captured again
      }
    })();
    await this.loaded;
    return this.bpf;
  }

  /**
   * Keeps the program crun compiled for a container created with the profile (its state
   * directory `containerDir`), if none is kept yet.
   */
  async capture(containerDir: string): Promise<void> {
    if (this.bpf !== undefined) return;
    const bpf = await readFile(join(containerDir, 'seccomp.bpf')).catch(() => undefined);
    if (bpf === undefined || !usable(bpf) || this.bpf !== undefined) return;
    this.bpf = bpf.toString('base64');
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeJsonAtomic(this.file, { bpf: this.bpf });
  }
}
