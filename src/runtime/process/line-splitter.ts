/** Splits a byte stream into lines (UTF-8 safe: splits on bytes, decodes whole lines). */

/** A line longer than this is cut into pieces rather than buffered without bound. */
export const MAX_LINE_BYTES = 64 * 1024;

export class LineSplitter {
  #partial: Buffer[] = [];
  #partialSize = 0;

  /** Feeds bytes; returns the lines they complete (without the newline). */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      this.#add(chunk.subarray(start, nl), lines);
      lines.push(this.#take());
      start = nl + 1;
    }
    if (start < chunk.length) this.#add(chunk.subarray(start), lines);
    return lines;
  }

  /** The unterminated rest, if any (at the end of the stream). */
  flush(): string | undefined {
    return this.#partialSize > 0 ? this.#take() : undefined;
  }

  get pending(): boolean {
    return this.#partialSize > 0;
  }

  #add(bytes: Buffer, lines: string[]): void {
    let rest = bytes;
    while (this.#partialSize + rest.length > MAX_LINE_BYTES) {
      const room = MAX_LINE_BYTES - this.#partialSize;
      this.#partial.push(rest.subarray(0, room));
      this.#partialSize += room;
      lines.push(this.#take());
      rest = rest.subarray(room);
    }
    if (rest.length > 0) {
      this.#partial.push(Buffer.from(rest)); // copy: the caller may reuse its buffer
      this.#partialSize += rest.length;
    }
  }

  #take(): string {
    const text = Buffer.concat(this.#partial).toString('utf8');
    this.#partial = [];
    this.#partialSize = 0;
    return text;
  }
}
