import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sameSiteLinks } from '../../examples/crawler/links.js';
import { type SiteServer, sitePage, startSiteServer } from '../../examples/crawler/site.js';

/** Resolve every href of a page the way a browser would; keep same-origin http(s) links without fragment. */
function pathsOfLinks(html: string, pageUrl: string): string[] {
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
      expect(pathsOfLinks(html, site.url(path))).toEqual(sitePage(path, { pages: 40 }).links);
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

describe('crawler example: link extraction', () => {
  it('keeps same-origin http(s) links, resolved, without fragments, de-duplicated', () => {
    const html = `
      <a href="/a.html">a</a> <a href='b.html#x'>b</a> <A HREF=./c.html>c</A>
      <a class="x" href="http://127.0.0.1:8080/a.html#top">a again</a>
      <a href="https://127.0.0.1:8080/secure">other scheme</a>
      <a href="http://127.0.0.1:8081/a.html">other port</a>
      <a href="http://127.0.0.1.evil.example/a.html">lookalike host</a>
      <a href="//cdn.example.net/x.js">protocol-relative</a>
      <a href="mailto:x@example.org">mail</a> <a href="javascript:void(0)">js</a>
      <a href="http://[::1">broken</a> <a href="">empty</a> <a href="?q=1">query</a>`;
    expect(sameSiteLinks(html, 'http://127.0.0.1:8080/dir/page.html')).toEqual([
      'http://127.0.0.1:8080/a.html',
      'http://127.0.0.1:8080/dir/b.html',
      'http://127.0.0.1:8080/dir/c.html',
      'http://127.0.0.1:8080/dir/page.html?q=1',
    ]);
  });
});
