#!/usr/bin/env python3
"""Every reference in the repository leads somewhere inside it.

The project's contracts are told in its own documents (docs/events.md,
docs/endpoint.md, ...), so no tracked file may name a path of the machine it
was written on, a sibling checkout, or a contract file that lives outside the
repository. And every document a file cites must exist, down to the section:

- no path under the work tree's parent or a shared sibling directory, and no
  spec/<name>.md (the outside contracts): cite the docs/ page instead;
- a docs/<path> (.md, .json or .1) that is cited exists;
- a bare <name>.md exists next to the citing file, at the top or in docs/;
- a section cited as `docs/<file>.md, "Section"` or `docs/<file>.md
  ("Section")` is a heading of that file;
- a relative Markdown link in a .md file, `[text](path#anchor)`, leads to a
  file that exists and, with an anchor, to one of its headings.

Usage: docs_refs.py [SOURCE_DIR]. Prints each offender as file:line: what,
and exits 1 if there is one.
"""

import os
import re
import subprocess
import sys

SELF = "tests/docs_refs.py"

# Built from pieces so that this file does not match its own rules.
OUTSIDE = [
    (re.compile("/" + r"work/[^\s`'\")>]*"), "names a path outside the repository"),
    (re.compile(r"\.\./" + r"shared[^\s`'\")>]*"), "names a path outside the repository"),
    (
        re.compile(r"(?<![A-Za-z0-9_.-])" + "spec" + r"/[A-Za-z0-9_.-]+\.md"),
        "cites a contract outside the repository; cite its account in docs/ "
        "(docs/events.md, docs/endpoint.md)",
    ),
]
# docs/<path>, not as the tail of another path (curl's docs/..., say).
DOCS_PATH = re.compile(r"(?<![A-Za-z0-9_./-])/?(docs/[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.(?:md|json|1))")
BARE_MD = re.compile(r"(?<![A-Za-z0-9_./-])([A-Za-z0-9_-]+\.md)\b")
SECTION = re.compile(r'(docs/[A-Za-z0-9_./-]+\.md)(?:, | \(|: )"([^"]+)(")?')
MD_LINK = re.compile(r"\]\(([^()\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
COMMENT_LEADER = re.compile(r"^[\s*#/;-]*")


def listed_files(src):
    """Tracked files, plus new ones not ignored (so a file not yet added is
    checked too); a tree without git is walked instead."""
    try:
        out = subprocess.run(
            ["git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True,
            capture_output=True,
        ).stdout
        files = sorted({f for f in out.decode().split("\0") if f})
        return [f for f in files if os.path.isfile(os.path.join(src, f))]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for root, dirs, names in os.walk(src):
            dirs[:] = [d for d in dirs if d != ".git" and not d.startswith("build")]
            for n in names:
                files.append(os.path.relpath(os.path.join(root, n), src))
        return sorted(files)


def read_text(path):
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def slug(text):
    """The anchor GitHub gives a heading."""
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


class Docs:
    def __init__(self, src, files):
        self.src = src
        self.files = set(files)
        self.dirs = {os.path.dirname(f) for f in files}
        for d in list(self.dirs):
            while d:
                d = os.path.dirname(d)
                self.dirs.add(d)
        self.cache = {}

    def exists(self, rel):
        rel = os.path.normpath(rel)
        return rel in self.files or rel in self.dirs

    def headings(self, rel):
        """(titles, anchors) of a Markdown file's headings, outside code."""
        rel = os.path.normpath(rel)
        if rel not in self.cache:
            titles, anchors, fenced = [], set(), False
            text = read_text(os.path.join(self.src, rel)) or ""
            for line in text.splitlines():
                if line.lstrip().startswith("```"):
                    fenced = not fenced
                    continue
                m = None if fenced else HEADING.match(line)
                if m:
                    titles.append(m.group(2))
                    base = slug(m.group(2))
                    a, n = base, 1
                    while a in anchors:
                        a, n = "%s-%d" % (base, n), n + 1
                    anchors.add(a)
            self.cache[rel] = (titles, anchors)
        return self.cache[rel]

    def has_section(self, rel, title):
        def bare(t):
            return re.sub(r"[`*_]", "", t).strip()

        return any(bare(t) == bare(title) or bare(t).startswith(bare(title) + ":")
                   for t in self.headings(rel)[0])


def check_file(docs, rel, text, report):
    lines = text.splitlines()
    is_md = rel.endswith(".md")
    here = os.path.dirname(rel)
    for i, line in enumerate(lines):
        no = i + 1
        if rel != SELF:
            for rx, what in OUTSIDE:
                for m in rx.finditer(line):
                    report(rel, no, "%s: %s" % (what, m.group(0)))
        for m in DOCS_PATH.finditer(line):
            if not docs.exists(m.group(1)):
                report(rel, no, "cites %s, which is not in the repository" % m.group(1))
        for m in BARE_MD.finditer(line):
            name = m.group(1)
            if is_md and line[: m.start()].endswith("]("):
                continue  # a Markdown link: checked below
            if not any(docs.exists(os.path.join(d, name)) for d in (here, "", "docs")):
                report(rel, no, "cites %s, which is not in the repository" % name)
        for m in SECTION.finditer(line):
            doc, title = m.group(1), m.group(2)
            if not m.group(3):
                # the quotation goes on on the next line (a wrapped comment)
                nxt = COMMENT_LEADER.sub("", lines[i + 1]) if i + 1 < len(lines) else ""
                if '"' not in nxt:
                    continue
                title = title.rstrip() + " " + nxt.split('"', 1)[0].strip()
            if docs.exists(doc) and not docs.has_section(doc, title):
                report(rel, no, 'cites %s, "%s": %s has no such section' % (doc, title, doc))
        if not is_md:
            continue
        for m in MD_LINK.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto:, file:
            path, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(here, path)) if path else rel
            if path and not docs.exists(dest):
                report(rel, no, "links to %s, which is not in the repository" % target)
            elif anchor and dest.endswith(".md") and anchor not in docs.headings(dest)[1]:
                report(rel, no, "links to %s: %s has no heading with the anchor #%s"
                       % (target, dest, anchor))


def main():
    src = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                          os.path.join(os.path.dirname(__file__), ".."))
    files = listed_files(src)
    docs = Docs(src, files)
    offenders = []

    def report(rel, no, what):
        entry = "%s:%d: %s" % (rel, no, what)
        if entry not in offenders:
            offenders.append(entry)

    checked = 0
    for rel in files:
        text = read_text(os.path.join(src, rel))
        if text is None:
            continue
        checked += 1
        check_file(docs, rel, text, report)
    for entry in offenders:
        print(entry)
    if offenders:
        print("%d reference(s) lead outside the repository or nowhere, in %d files checked"
              % (len(offenders), checked), file=sys.stderr)
        return 1
    print("%d files checked, every reference leads inside the repository" % checked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
