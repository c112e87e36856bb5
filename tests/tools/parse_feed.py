#!/usr/bin/python3
"""Parses an RSS file the way a feed reader would, for the tests.

usage: parse_feed.py FILE COUNT

Checks that the file is well-formed XML (xml.etree) and a clean RSS 2.0
feed to feedparser (no "bozo" error), with COUNT items, each with a guid,
a title, a link and a parsable pubDate. Prints the items' titles and guids
as JSON on standard output. Exit 0 when all holds, 1 otherwise.
"""
import json
import sys
import xml.etree.ElementTree as ET

import feedparser


def main():
    path, count = sys.argv[1], int(sys.argv[2])
    ET.parse(path)  # raises on malformed XML
    feed = feedparser.parse(path)
    problems = []
    if feed.bozo:
        problems.append("bozo: %r" % feed.bozo_exception)
    if feed.version != "rss20":
        problems.append("version %r" % feed.version)
    if len(feed.entries) != count:
        problems.append("%d entries, expected %d" % (len(feed.entries), count))
    for e in feed.entries:
        for key in ("id", "title", "link"):
            if not e.get(key):
                problems.append("an entry lacks %s" % key)
        if not e.get("published_parsed"):
            problems.append("entry %s: pubDate not parsed" % e.get("id"))
    if feed.feed.get("updated_parsed") is None:
        problems.append("lastBuildDate not parsed")
    print(json.dumps([{"title": e.get("title"), "id": e.get("id"),
                       "summary": e.get("summary")} for e in feed.entries],
                     ensure_ascii=False))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
