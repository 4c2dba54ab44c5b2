/**
 * Link extraction for the crawler: pure functions, no I/O.
 *
 * "Same site" means same origin (scheme, host and port), compared on parsed URLs. Celery's eventlet
 * crawler tests `location in domain(url)`, a substring match that also accepts
 * `example.com.attacker.net`; comparing origins avoids that.
 */

/** Canonical form used as the seen-set key: absolute, fragment removed. Query strings are kept (they name other resources). */
export function canonical(url: URL): string {
  const u = new URL(url.href);
  u.hash = '';
  return u.href;
}

const HREF = /<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi;

/**
 * Same-origin http(s) links of an HTML page, canonical and de-duplicated, in document order.
 * `mailto:`, `javascript:`, other hosts and other ports are dropped; unparseable hrefs are skipped.
 */
export function sameSiteLinks(html: string, pageUrl: string): string[] {
  const base = new URL(pageUrl);
  const out = new Set<string>();
  for (const m of html.matchAll(HREF)) {
    const raw = (m[1] ?? m[2] ?? m[3] ?? '').trim();
    if (!raw) continue;
    let u: URL;
    try {
      u = new URL(raw, base);
    } catch {
      continue; // not a URL at all; a real page has a few of these
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') continue;
    if (u.origin !== base.origin) continue;
    out.add(canonical(u));
  }
  return [...out];
}
