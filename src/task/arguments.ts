/**
 * Map a Celery call's (args, kwargs) onto a JavaScript function, the way Python binds them: positional
 * first, then keywords by parameter name. Mismatches fail the task with a Python-style TypeError, so a
 * Python caller reads the same message it would get from a Python task.
 */
export function bindArguments(
  name: string,
  fn: (...args: never[]) => unknown,
  params: readonly string[] | undefined,
  args: readonly unknown[],
  kwargs: Record<string, unknown>,
): unknown[] {
  const keys = Object.keys(kwargs);
  if (!params) {
    // Without declared params, kwargs travel as one trailing object (the common JS idiom).
    const out = keys.length ? [...args, kwargs] : [...args];
    if (out.length < fn.length) {
      throw new TypeError(`${name}() missing ${fn.length - out.length} required positional argument(s)`);
    }
    return out;
  }
  if (args.length > params.length) {
    throw new TypeError(
      `${name}() takes ${params.length} positional arguments but ${args.length} were given`,
    );
  }
  const out: unknown[] = [...args];
  const filled = new Set(params.slice(0, args.length));
  for (const key of keys) {
    const index = params.indexOf(key);
    if (index < 0) throw new TypeError(`${name}() got an unexpected keyword argument '${key}'`);
    if (filled.has(key)) throw new TypeError(`${name}() got multiple values for argument '${key}'`);
    out[index] = kwargs[key];
    filled.add(key);
  }
  // fn.length counts parameters before the first default: those are required.
  const missing = params.slice(0, fn.length).filter((p) => !filled.has(p));
  if (missing.length) {
    const list = missing.map((m) => `'${m}'`).join(' and ');
    throw new TypeError(
      `${name}() missing ${missing.length} required positional argument${missing.length > 1 ? 's' : ''}: ${list}`,
    );
  }
  return out;
}
