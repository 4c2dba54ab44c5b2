/**
 * One shared copy of the short strings that repeat from message to message. JSON.parse makes a new
 * string for every value of every envelope, so each of 10,000 in-flight tasks held its own "py",
 * "application/json", queue name, task name, origin, reply_to…: about 300 bytes a task, all promoted to
 * the old space with the message that holds them. Swapping in the interned copy right after the parse
 * lets the fresh ones die young.
 *
 * Only for values that repeat (never ids): a table of unique values would be all misses. It is bounded,
 * and cleared when full, so a stream of distinct values costs a miss each and never grows it.
 */
const MAX_LENGTH = 128;
const MAX_ENTRIES = 1024;
const table = new Map<string, string>();

export function intern<T>(value: T): T {
  if (typeof value !== 'string' || value.length > MAX_LENGTH) return value;
  const hit = table.get(value);
  if (hit !== undefined) return hit as T;
  if (table.size >= MAX_ENTRIES) table.clear();
  table.set(value, value);
  return value;
}

/** Intern `obj[key]` in place when it is a string (no new property is ever added). */
export function internField(obj: Record<string, unknown>, key: string): void {
  const v = obj[key];
  if (typeof v === 'string') obj[key] = intern(v);
}
