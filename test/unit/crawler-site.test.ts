import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SiteServer, sitePage, startSiteServer } from '../../examples/crawler/site.js';

/** Resolve every href of a page the way a browser would; keep same-origin http(s) links without fragment. */
function sameSiteLinks(html: string, pageUrl: string): string[] {
  const origin = new URL(pageUrl).origin;
  const out: string[] = [];
  for (const m of html.matchAll(/<a\s[^>]*href\s*=\s*["']([^"']*)["']/gi)) {
    const u = new URL(m[1]!, pageUrl);
    if (u.origin !== origin) continue;
    out.push(u.pathname);
  }
  return out;
}

describe('crawler example: generated site', () => {
  let site: SiteServer;
  beforeAll(async () => {
    site = await startSiteServer({ pages: 40, latencyMs: 5, slowMs: 300 });
  });
  afterAll(async () => {
    await site.close();
  });

  it('writes exactly the links sitePage() describes, whatever href style it uses', async () => {
    for (const path of ['/', '/page/1.html', '/page/4.html', '/page/7.html', '/page/39.html']) {
      const res = await fetch(site.url(path));
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(sameSiteLinks(html, site.url(path))).toEqual(sitePage(path, { pages: 40 }).links);
      // Foreign links are present in the HTML, and must be the ones a crawler drops.
      expect(html).toContain('https://www.example.com/ref/');
      expect(html).toContain('mailto:');
    }
  });

  it('answers 404 for broken links, serves slow pages late and PDFs as non-HTML', async () => {
    expect(sitePage('/page/4.html', { pages: 40 }).links).toContain('/missing/4.html');
    expect((await fetch(site.url('/missing/4.html'))).status).toBe(404);
    expect((await fetch(site.url('/page/40.html'))).status).toBe(404);
    const pdf = await fetch(site.url('/files/report-5.pdf'));
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    await pdf.arrayBuffer();
    const slow = await fetch(site.url('/slow/7.html'), { signal: AbortSignal.timeout(50) }).catch(
      (e: unknown) => e,
    );
    expect((slow as Error).name).toBe('TimeoutError');
  });
});
