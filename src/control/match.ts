/**
 * Which workers a remote-control request is for (kombu's pidbox Node.handle_message): a non-empty
 * `destination` list names them; otherwise `pattern` with `matcher` selects by node name; otherwise
 * every worker. Matchers are kombu's two built-ins:
 *  - `glob`: Python's fnmatch, a whole-name match (`*`, `?`, `[abc]`, `[!abc]`), case-sensitive as on
 *    POSIX;
 *  - `pcre`: Python's `re.match`, anchored at the start of the name only (not at the end). The pattern
 *    runs as a JS RegExp with the sticky flag, which gives the same start-only anchoring. Python-only
 *    syntax is translated where JS has an equivalent: named groups `(?P<n>…)` and back-references
 *    `(?P=n)`, `\A` and `\Z`, and leading inline flags `(?i)`, `(?m)`, `(?s)`. Anything else Python
 *    accepts and JS does not (possessive or atomic groups, `(?x)` verbose mode, conditionals) fails to
 *    compile: such a request then matches no worker here, and the mailbox logs why.
 * An unknown matcher matches nothing (kombu raises MatcherNotInstalled, so a Python worker ignores it too).
 */

export interface Selector {
  readonly destination?: readonly string[] | null;
  readonly pattern?: string | null;
  readonly matcher?: string | null;
}

/** fnmatch's translation: the whole name must match. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) out += '\\[';
      else {
        let set = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (set.startsWith('!')) set = `^${set.slice(1)}`;
        else if (set.startsWith('^')) set = `\\${set}`;
        out += `[${set}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^(?:${out})$`, 's');
}

/** Python `re` syntax → a JS RegExp anchored at the start only, as `re.match`. Throws when JS cannot. */
export function pcreToRegExp(pattern: string): RegExp {
  let flags = 'y';
  let src = pattern;
  const lead = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1] as string) {
      if (f === 'i' || f === 'm' || f === 's') flags += f;
      else if (f === 'x') throw new Error('the verbose flag (?x) has no JavaScript equivalent');
    }
    src = src.slice(lead[0].length);
  }
  src = src
    .replace(/\(\?P<([A-Za-z_]\w*)>/g, '(?<$1>')
    .replace(/\(\?P=([A-Za-z_]\w*)\)/g, '\\k<$1>')
    .replace(/\\A/g, '^')
    .replace(/\\Z/g, '$(?![\\s\\S])');
  return new RegExp(src, flags);
}

/** Does node `hostname` match `pattern` with `matcher`? Throws on a pattern that does not compile. */
export function matchName(hostname: string, pattern: string, matcher: string): boolean {
  if (matcher === 'glob') return globToRegExp(pattern).test(hostname);
  if (matcher === 'pcre') return pcreToRegExp(pattern).test(hostname);
  return false;
}

/** Is a request with these selectors for the node `hostname`? */
export function selects(hostname: string, s: Selector): boolean {
  if (s.destination && s.destination.length > 0) return s.destination.includes(hostname);
  if (s.pattern && s.matcher) return matchName(hostname, s.pattern, s.matcher);
  return true;
}
