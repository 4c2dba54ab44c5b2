/**
 * Reads back the Python literals Celery's argsrepr/kwargsrepr hold (`(2, 'x', [1.5, None])`,
 * `{'k': True}`), so the dashboard can re-send a task whose result backend did not keep its arguments
 * (resultExtended off). Only literals: None/True/False, numbers, strings, tuples, lists and dicts, as
 * Python's ast.literal_eval; nothing is ever evaluated. A repr that saferepr cut (`...`), or that holds
 * anything else (an object's repr, a set, bytes), is refused: re-sending a guess would run the task on
 * different input. saferepr escapes only the quote, so a string with any other backslash is refused
 * too (a raw backslash and an escape look alike).
 */

class Reader {
  i = 0;
  constructor(readonly s: string) {}

  fail(what: string): never {
    throw new Error(`${what} at character ${this.i} of ${JSON.stringify(this.s.slice(0, 80))}`);
  }

  ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i] as string)) this.i++;
  }

  eat(ch: string): boolean {
    this.ws();
    if (this.s[this.i] === ch) {
      this.i++;
      return true;
    }
    return false;
  }

  value(depth: number): unknown {
    if (depth > 32) this.fail('nested too deep');
    this.ws();
    const c = this.s[this.i];
    if (c === '(' || c === '[') {
      this.i++;
      return this.items(c === '(' ? ')' : ']', depth);
    }
    if (c === '{') {
      this.i++;
      return this.dict(depth);
    }
    if (c === "'" || c === '"') return this.string(c);
    const m = /^(?:None|True|False|[-+]?(?:\d[\d_]*\.?\d*(?:e[-+]?\d+)?|\.\d+(?:e[-+]?\d+)?|inf|nan))/i.exec(
      this.s.slice(this.i),
    );
    if (!m) this.fail(this.s.startsWith('...', this.i) ? 'the repr was cut short (...)' : 'not a literal');
    this.i += m[0].length;
    const w = m[0];
    if (w === 'None') return null;
    if (w === 'True') return true;
    if (w === 'False') return false;
    const n = Number(w.replace(/_/g, ''));
    if (!Number.isFinite(n)) this.fail('not a finite number');
    return n;
  }

  items(close: string, depth: number): unknown[] {
    const out: unknown[] = [];
    if (this.eat(close)) return out;
    for (;;) {
      out.push(this.value(depth + 1));
      if (this.eat(close)) return out;
      if (!this.eat(',')) this.fail(`expected , or ${close}`);
      if (this.eat(close)) return out; // (1,) and a trailing comma
    }
  }

  dict(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (this.eat('}')) return out;
    for (;;) {
      const k = this.value(depth + 1);
      if (typeof k !== 'string') this.fail('a dict key that is not a string');
      if (!this.eat(':')) this.fail('expected :');
      Object.defineProperty(out, k, { value: this.value(depth + 1), enumerable: true, writable: true });
      if (this.eat('}')) return out;
      if (!this.eat(',')) this.fail('expected , or }');
      if (this.eat('}')) return out;
    }
  }

  string(quote: string): string {
    this.i++;
    let out = '';
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i++] as string;
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      // saferepr escapes only the quote; any other backslash could be a raw one or an escape.
      const e = s[this.i++];
      if (e === quote) out += e;
      else this.fail('a backslash the repr leaves ambiguous');
    }
    return this.fail('an unterminated string');
  }
}

/** The value of a Python literal repr; throws an Error saying why when it is not one. */
export function parsePyLiteral(repr: string): unknown {
  const r = new Reader(repr);
  const v = r.value(0);
  r.ws();
  if (r.i !== repr.length) r.fail('trailing text');
  return v;
}
