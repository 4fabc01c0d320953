/** Reading just enough of an ELF executable to tell whether it is statically linked. */
import { open } from 'node:fs/promises';

/** Whether an ELF executable asks for a dynamic loader (PT_INTERP), i.e. is not static. */
export async function isDynamicElf(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const h = Buffer.alloc(64);
    await fh.read(h, 0, 64, 0);
    if (h.readUInt32BE(0) !== 0x7f454c46) return false;
    const is64 = h[4] === 2;
    const le = h[5] === 1;
    const u16 = (o: number): number => (le ? h.readUInt16LE(o) : h.readUInt16BE(o));
    const phoff = is64
      ? Number(le ? h.readBigUInt64LE(32) : h.readBigUInt64BE(32))
      : le
        ? h.readUInt32LE(28)
        : h.readUInt32BE(28);
    const phentsize = u16(is64 ? 54 : 42);
    const phnum = u16(is64 ? 56 : 44);
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) {
      const type = le ? ph.readUInt32LE(i * phentsize) : ph.readUInt32BE(i * phentsize);
      if (type === 3) return true;
    }
    return false;
  } finally {
    await fh.close();
  }
}
