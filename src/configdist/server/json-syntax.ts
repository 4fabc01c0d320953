/**
 * Where a JSON text goes wrong: a small recursive-descent checker (RFC 8259) that returns the offset
 * of the first error and what was expected there. JSON.parse does not always say where (V8 names
 * the token but not its position), and a config refusal must give a line and column.
 */
export interface JsonSyntaxError {
  offset: number;
  message: string;
}

class Fail extends Error {
  readonly offset: number;
  constructor(offset: number, message: string) {
    super(message);
    this.offset = offset;
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

function describe(text: string, i: number): string {
  if (i >= text.length) return 'the end of the text';
  return JSON.stringify(text[i]);
}

class Checker {
  i = 0;
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }

  ws(): void {
    while (this.i < this.text.length && WS.has(this.text.charCodeAt(this.i))) this.i++;
  }

  fail(expected: string): never {
    throw new Fail(this.i, `expected ${expected}, found ${describe(this.text, this.i)}`);
  }

  value(depth: number): void {
    if (depth > 512) this.fail('less nesting (over 512 levels)');
    this.ws();
    const c = this.text[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    for (const word of ['true', 'false', 'null']) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return;
      }
    }
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.text);
    if (m && m[0] !== '' && m[0] !== '-') {
      this.i += m[0].length;
      return;
    }
    this.fail('a value (object, array, string, number, true, false or null)');
  }

  object(depth: number): void {
    this.i++;
    this.ws();
    if (this.text[this.i] === '}') {
      this.i++;
      return;
    }
    for (;;) {
      this.ws();
      if (this.text[this.i] !== '"') this.fail('a property name in double quotes');
      this.string();
      this.ws();
      if (this.text[this.i] !== ':') this.fail('":" after the property name');
      this.i++;
      this.value(depth + 1);
      this.ws();
      const c = this.text[this.i];
      if (c === ',') {
        this.i++;
        this.ws();
        if (this.text[this.i] === '}')
          this.fail('another property after "," (JSON allows no trailing comma)');
        continue;
      }
      if (c === '}') {
        this.i++;
        return;
      }
      this.fail('"," or "}"');
    }
  }

  array(depth: number): void {
    this.i++;
    this.ws();
    if (this.text[this.i] === ']') {
      this.i++;
      return;
    }
    for (;;) {
      this.value(depth + 1);
      this.ws();
      const c = this.text[this.i];
      if (c === ',') {
        this.i++;
        this.ws();
        if (this.text[this.i] === ']') this.fail('another value after "," (JSON allows no trailing comma)');
        continue;
      }
      if (c === ']') {
        this.i++;
        return;
      }
      this.fail('"," or "]"');
    }
  }

  string(): void {
    this.i++;
    while (this.i < this.text.length) {
      const code = this.text.charCodeAt(this.i);
      if (code === 0x22) {
        this.i++;
        return;
      }
      if (code < 0x20) this.fail('no control character inside a string (escape it)');
      if (code === 0x5c) {
        const e = this.text[this.i + 1] ?? '';
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.text.slice(this.i + 2, this.i + 6))) {
            this.i++;
            this.fail('four hex digits after \\u');
          }
          this.i += 6;
          continue;
        }
        if (!'"\\/bfnrt'.includes(e) || e === '') {
          this.i++;
          this.fail('an escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)');
        }
        this.i += 2;
        continue;
      }
      this.i++;
    }
    this.fail('a closing double quote');
  }
}

/** The first syntax error of `text` as JSON, or undefined when it is valid JSON. */
export function jsonSyntaxError(text: string): JsonSyntaxError | undefined {
  const c = new Checker(text);
  try {
    c.value(0);
    c.ws();
    if (c.i < text.length) c.fail('the end of the text after the value');
    return undefined;
  } catch (e) {
    if (e instanceof Fail) return { offset: e.offset, message: e.message };
    throw e;
  }
}
