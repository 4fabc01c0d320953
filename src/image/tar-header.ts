/**
 * Tar headers (POSIX ustar with pax extended records, reading GNU long names too): enough to read
 * and write image layers and image archives.
 */
import { ImageError } from './errors.ts';

export const BLOCK = 512;

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export interface TarHeader {
  /** Path inside the archive, as written (no normalization). */
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Target of a symlink or hard link. */
  linkpath: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

/** A raw header block as read: type flag kept for pax/GNU meta entries. */
export interface RawHeader extends Omit<TarHeader, 'type'> {
  typeflag: string;
}

const TYPE_TO_FLAG: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  directory: '5',
  fifo: '6',
};

export function typeFromFlag(flag: string): TarEntryType | undefined {
  switch (flag) {
    case '0':
    case '\0':
    case '':
    case '7':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    default:
      return undefined;
  }
}

function readString(buf: Buffer, offset: number, length: number): string {
  const slice = buf.subarray(offset, offset + length);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul === -1 ? slice.length : nul).toString('utf8');
}

function readNumber(buf: Buffer, offset: number, length: number): number {
  const first = buf[offset] ?? 0;
  if (first & 0x80) {
    // GNU base-256: big-endian, high bit of the first byte set (positive values only here).
    let value = first & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + (buf[offset + i] ?? 0);
    return value;
  }
  const text = readString(buf, offset, length).trim();
  if (text === '') return 0;
  const n = parseInt(text, 8);
  if (!Number.isFinite(n)) throw new ImageError('InvalidImage', `bad number in tar header: "${text}"`);
  return n;
}

export function isZeroBlock(buf: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

function checksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (buf[i] ?? 0);
  return sum;
}

export function decodeHeader(buf: Buffer): RawHeader {
  const stored = readNumber(buf, 148, 8);
  if (stored !== checksum(buf)) throw new ImageError('InvalidImage', 'tar header checksum mismatch');
  const name = readString(buf, 0, 100);
  const magic = readString(buf, 257, 6);
  const prefix = magic.startsWith('ustar') && buf[345] !== 0 ? readString(buf, 345, 155) : '';
  return {
    path: prefix ? `${prefix}/${name}` : name,
    typeflag: String.fromCharCode(buf[156] ?? 0),
    mode: readNumber(buf, 100, 8),
    uid: readNumber(buf, 108, 8),
    gid: readNumber(buf, 116, 8),
    size: readNumber(buf, 124, 12),
    mtime: readNumber(buf, 136, 12),
    linkpath: readString(buf, 157, 100),
    uname: readString(buf, 265, 32),
    gname: readString(buf, 297, 32),
    devmajor: readNumber(buf, 329, 8),
    devminor: readNumber(buf, 337, 8),
  };
}

/** Parses pax extended header records ("%d key=value\n"). */
export function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    if (space === -1) break;
    const len = parseInt(body.subarray(pos, space).toString('ascii'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = body.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len)
    len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, length, 'utf8');
}

function fitsOctal(value: number, length: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < 8 ** (length - 1);
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  const v = fitsOctal(value, length) ? value : 0;
  writeString(buf, offset, length - 1, v.toString(8).padStart(length - 1, '0'));
  buf[offset + length - 1] = 0;
}

function isAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/** Splits a long ustar path into prefix (<=155) and name (<=100), or undefined if it cannot. */
function splitUstar(path: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== '/') continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (prefix.length <= 155 && name.length <= 100 && name.length > 0) return { prefix, name };
  }
  return undefined;
}

function encodeBlock(h: TarHeader & { typeflag: string }, path: { prefix: string; name: string }): Buffer {
  const buf = Buffer.alloc(BLOCK);
  writeString(buf, 0, 100, path.name);
  writeOctal(buf, 100, 8, h.mode & 0o7777);
  writeOctal(buf, 108, 8, h.uid);
  writeOctal(buf, 116, 8, h.gid);
  writeOctal(buf, 124, 12, h.size);
  writeOctal(buf, 136, 12, Math.floor(h.mtime));
  buf.fill(0x20, 148, 156);
  buf.write(h.typeflag, 156, 1, 'ascii');
  writeString(buf, 157, 100, Buffer.byteLength(h.linkpath) <= 100 ? h.linkpath : '');
  buf.write('ustar\x0000', 257, 8, 'binary');
  writeString(buf, 265, 32, h.uname);
  writeString(buf, 297, 32, h.gname);
  writeOctal(buf, 329, 8, h.devmajor);
  writeOctal(buf, 337, 8, h.devminor);
  writeString(buf, 345, 155, path.prefix);
  const sum = checksum(buf);
  buf.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return buf;
}

/** Header block(s) for an entry: a pax record first when a field does not fit ustar. */
export function encodeHeader(h: TarHeader): Buffer {
  const pax: string[] = [];
  let split = isAscii(h.path) ? splitUstar(h.path) : undefined;
  if (!split) {
    pax.push(paxRecord('path', h.path));
    split = {
      prefix: '',
      name: Buffer.from(h.path)
        .subarray(0, 99)
        .toString('latin1')
        .replace(/[^\x20-\x7e]/g, '_'),
    };
  }
  if (Buffer.byteLength(h.linkpath) > 100 || !isAscii(h.linkpath))
    pax.push(paxRecord('linkpath', h.linkpath));
  if (!fitsOctal(h.size, 12)) pax.push(paxRecord('size', String(h.size)));
  if (!fitsOctal(h.uid, 8)) pax.push(paxRecord('uid', String(h.uid)));
  if (!fitsOctal(h.gid, 8)) pax.push(paxRecord('gid', String(h.gid)));
  if (!Number.isInteger(h.mtime) && h.mtime > 0) pax.push(paxRecord('mtime', h.mtime.toFixed(6)));
  const main = encodeBlock({ ...h, typeflag: TYPE_TO_FLAG[h.type] }, split);
  if (pax.length === 0) return main;
  const body = Buffer.from(pax.join(''), 'utf8');
  const paxHeader = encodeBlock(
    {
      ...h,
      path: 'PaxHeader',
      type: 'file',
      typeflag: 'x',
      size: body.length,
      linkpath: '',
      mode: 0o644,
      uid: 0,
      gid: 0,
    },
    { prefix: '', name: 'PaxHeader' },
  );
  return Buffer.concat([paxHeader, body, Buffer.alloc(padding(body.length)), main]);
}

export function padding(size: number): number {
  const rem = size % BLOCK;
  return rem === 0 ? 0 : BLOCK - rem;
}
