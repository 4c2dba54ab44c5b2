"""Fetch + parse of one feed in Python: requests (one keep-alive Session per process) + ElementTree.

The same work as Celeriac's examples/feedhub/feed.ts (undici keep-alive + fast-xml-parser) on the same
local feeds (RSS 2.0 for even i, Atom 1.0 for odd i), returning the same summary shape:
``{url, title, items, newest: {title, link, date} | None, bytes}``. Shared by the Celery tasks and the
Python no-queue ceiling.
"""

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import HTTPAdapter

ATOM = "{http://www.w3.org/2005/Atom}"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.1"

_session = None


def session():
    """One Session per process, created lazily (so prefork children each get their own pool)."""
    global _session
    if _session is None:
        s = requests.Session()
        # Keep up to 1024 sockets alive like feed.ts's agent: the default pool of 10 would close and
        # reopen sockets under -c 1000 and measure TCP handshakes rather than the queue.
        s.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=1024))
        s.headers["accept"] = ACCEPT
        _session = s
    return _session


def _iso(d):
    if d is None:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    d = d.astimezone(timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def _rss_date(text):
    try:
        return _iso(parsedate_to_datetime(text)) if text else None
    except (TypeError, ValueError):
        return None


def _atom_date(text):
    try:
        return _iso(datetime.fromisoformat(text)) if text else None
    except ValueError:
        return None


def _newest(items):
    best = None
    for it in items:
        if best is None or (it["date"] is not None and (best["date"] is None or it["date"] > best["date"])):
            best = it
    return best


def _atom_link(entry):
    links = entry.findall(ATOM + "link")
    for link in links:
        if link.get("rel") in (None, "alternate"):
            return link.get("href") or ""
    return links[0].get("href") or "" if links else ""


def parse_feed(url, body):
    root = ET.fromstring(body)
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise ValueError("RSS without <channel>: " + url)
        items = [
            {
                "title": it.findtext("title") or "",
                "link": it.findtext("link") or "",
                "date": _rss_date(it.findtext("pubDate")),
            }
            for it in channel.findall("item")
        ]
        title = channel.findtext("title") or ""
    elif root.tag == ATOM + "feed":
        items = [
            {
                "title": e.findtext(ATOM + "title") or "",
                "link": _atom_link(e),
                "date": _atom_date(e.findtext(ATOM + "updated") or e.findtext(ATOM + "published")),
            }
            for e in root.findall(ATOM + "entry")
        ]
        title = root.findtext(ATOM + "title") or ""
    else:
        raise ValueError("neither RSS nor Atom: " + url)
    return {"url": url, "title": title, "items": len(items), "newest": _newest(items)}


def fetch_feed(url):
    resp = session().get(url, timeout=10)
    resp.raise_for_status()
    body = resp.content
    summary = parse_feed(url, body)
    summary["bytes"] = len(body)
    return summary
