#!/usr/bin/env python3
"""config_keys.py: the configuration keys the code accepts, against the keys
dupla.json(5) documents.

The code's keys are read from the sources, where they are declared once:
core/config.c's config_sections (the top-level keys) and its listener keys,
and every config_only_keys(SECTION_OBJ, SECTION_NAME, KEYS, err) call with
the static KEYS[] array of its file (SECTION_NAME a string literal, a macro
defined in a header, or a local variable set to either). The page's keys
are the ".B key" lines that follow a ".TP" line.

    config_keys.py SRC_DIR MAN_PAGE      exit 1 and name every difference
    config_keys.py SRC_DIR               print the code's keys
"""
import pathlib
import re
import sys

CALL_RE = re.compile(r"config_only_keys\(\s*[^,]+,\s*([^,]+?)\s*,\s*(\w+)\s*,")
ARRAY_RE = r"\b%s\s*\[\s*\]\s*=\s*\{(.*?)\}\s*;"
STRING_RE = re.compile(r'"([^"]*)"')


def strings(body):
    return STRING_RE.findall(body)


def macros(src):
    found = {}
    for h in src.rglob("*.h"):
        for m in re.finditer(r'#define\s+(\w+)\s+"([^"]*)"', h.read_text(encoding="utf-8")):
            found[m.group(1)] = m.group(2)
    return found


def section_name(expr, text, defs, where):
    expr = expr.strip()
    if expr.startswith('"'):
        return expr.strip('"')
    if expr in defs:
        return defs[expr]
    m = re.search(r"\b%s\s*=\s*(\"[^\"]*\"|\w+)\s*;" % re.escape(expr), text)
    if m:
        return section_name(m.group(1), text, defs, where)
    sys.exit("config_keys: %s: cannot tell the section of config_only_keys(..., %s, ...)"
             % (where, expr))


def code_keys(src):
    src = pathlib.Path(src)
    defs = macros(src)
    keys = set()
    config_c = (src / "core" / "config.c").read_text(encoding="utf-8")
    m = re.search(ARRAY_RE % "config_sections", config_c, re.S)
    keys.update(strings(m.group(1)))
    m = re.search(ARRAY_RE % "known", config_c, re.S)
    keys.update("listeners[].%s" % k for k in strings(m.group(1)))
    for c in sorted(src.rglob("*.c")):
        text = c.read_text(encoding="utf-8")
        for call in CALL_RE.finditer(text):
            where = "%s:%d" % (c, text.count("\n", 0, call.start()) + 1)
            sec = section_name(call.group(1), text, defs, where)
            # the array of that name defined last before the call
            arrays = [a for a in re.finditer(ARRAY_RE % re.escape(call.group(2)), text, re.S)
                      if a.start() < call.start()]
            if not arrays:
                sys.exit("config_keys: %s: no array %s[] before the call" % (where, call.group(2)))
            keys.update("%s.%s" % (sec, k) for k in strings(arrays[-1].group(1)))
    return keys


def page_keys(path):
    lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
    keys = set()
    for prev, line in zip(lines, lines[1:]):
        if prev.strip() == ".TP" and line.startswith(".B "):
            keys.add(line[3:].strip().replace("\\-", "-"))
    return keys


def main():
    if len(sys.argv) == 2:
        print("\n".join(sorted(code_keys(sys.argv[1]))))
        return 0
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    code, page = code_keys(sys.argv[1]), page_keys(sys.argv[2])
    # The page may also document sections by name (".B token"): those are
    # keys of config_sections, which code_keys holds too.
    missing = sorted(code - page)
    unknown = sorted(k for k in page - code)
    for k in missing:
        print("dupla.json(5) does not document %s, which the code accepts" % k)
    for k in unknown:
        print("dupla.json(5) documents %s, which the code does not accept" % k)
    if missing or unknown:
        return 1
    print("dupla.json(5) documents all %d keys" % len(code))
    return 0


if __name__ == "__main__":
    sys.exit(main())
