#!/usr/bin/env python3
"""aggregate.py — turns one bench/run's raw results into the report.

Role: the last step of bench/run.  Reads RUNDIR (written by bench/run):
  run.info               corpus, raw bytes, query file, reps, command line
  <engine>.build         the peer's stdout of `build` (docs=, build_seconds=)
  <engine>.time          /usr/bin/time -v of the build (wall time, peak RSS)
  <engine>.bN.build, .bN.time   the same, of build round N (--build-rounds);
                         a build figure is the median over the rounds (peak
                         RSS the largest)
  <engine>.size          index_bytes= (all files under the index directory)
  quire.stats            Quire's bytes per section (peer_quire stats)
  quire.scale            Quire's alternated one- and two-thread builds, a line
                         each: threads= wall= rss_kb= user= sys= (CPU seconds)
                         and the peer's build output
  quire.micro            bench_micro's report on Quire's index (hot paths)
  <engine>.run           the bench/run command lines that built the engine's
                         index and that ran its queries
  <engine>.tsv           result lines of `query` (protocol in peer_common.h)
  <engine>.rN.tsv        the same, of round N of queries (--rounds), pooled
and writes OUT.csv (one figure per row), OUT.md (tables with the ratio
Quire / peer for every figure, and the hit-count disagreements) and OUT.png
(gnuplot: median latency per class and engine).

Latency figures pool every timed repetition of every query of a class:
"median" and "p99" are over those pooled samples (nearest rank).

Usage: aggregate.py RUNDIR OUT   (OUT without extension)
"""
import collections
import csv
import glob
import json
import os
import re
import shutil
import subprocess
import sys

ENGINES = ["quire", "fts5", "xapian", "lucene"]
LABEL = {"quire": "Quire", "fts5": "FTS5", "xapian": "Xapian", "lucene": "Lucene"}
CLASSES = ["term", "and", "or", "phrase"]


def kv_file(path):
    d = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if "=" in line:
                    k, _, v = line.strip().partition("=")
                    d[k] = v
    return d


def scale_file(path):
    """Quire's scaling builds: a dict per line (threads, wall, rss_kb, ...)."""
    runs = []
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                d = {}
                for tok in line.split():
                    k, _, v = tok.partition("=")
                    try:
                        d[k] = float(v)
                    except ValueError:
                        pass
                if "threads" in d and "build_seconds" in d:
                    runs.append(d)
    return runs


def cpu(run):
    """CPU seconds of a scaling build (user + sys), None when not recorded."""
    if "user" not in run or "sys" not in run:
        return None
    return run["user"] + run["sys"]


def scale_lines(runs, raw, fts5_seconds):
    """The markdown of Quire's scaling section (empty without runs)."""
    def kind(threads, contentless):
        return [r for r in runs
                if r["threads"] == threads and r.get("contentless", 0) == contentless]
    def median(kind_runs):
        return pct([r["build_seconds"] for r in kind_runs], 50)
    one, two = kind(1, 0), kind(2, 0)
    if not one or not two:
        return []
    # runs of bench/run before it recorded CPU time have none
    have_cpu = all(cpu(r) is not None for r in one + two)
    L = ["## Quire on two cores", "",
         "Issue 4: a build with both cores at least 1.8× the one-thread rate, the merge "
         "to one segment included (`QUIRE_BENCH_THREADS=1` pinned like the other engines, "
         "`=2` unpinned, alternated so that each pair runs close in time). Times are the "
         "peer's own (`build_seconds`: indexing, then merging into one segment).", "",
         "| pair | one thread (s) | two threads (s) | ratio | one: index + merge (s) | "
         "two: index + merge (s) |" + (" one: CPU (s) | two: CPU (s) | CPU, two ÷ one |"
                                       if have_cpu else ""),
         "|---|---|---|---|---|---|" + ("---|---|---|" if have_cpu else "")]
    for i, (a, b) in enumerate(zip(one, two)):
        row = "| %d | %s | %s | %s | %s + %s | %s + %s |" % (
            i + 1, fmt(a["build_seconds"]), fmt(b["build_seconds"]),
            ratio(a["build_seconds"], b["build_seconds"]),
            fmt(a.get("index_seconds")), fmt(a.get("optimize_seconds")),
            fmt(b.get("index_seconds")), fmt(b.get("optimize_seconds")))
        if have_cpu:
            row += " %s | %s | %s |" % (fmt(cpu(a)), fmt(cpu(b)), ratio(cpu(b), cpu(a)))
        L.append(row)
    m1, m2 = median(one), median(two)
    rss1 = max(r.get("rss_kb", 0) for r in one) / 1024.0
    rss2 = max(r.get("rss_kb", 0) for r in two) / 1024.0
    L.append("")
    L.append("Medians: one thread %s s (%s MB/s), two threads %s s (%s MB/s): **%s** the "
             "one-thread rate (goal 1.8×). Peak RSS %s MiB with one thread, %s MiB with two "
             "(goal 512 MB on `big`)." % (
                 fmt(m1), fmt(raw / 1e6 / m1 if m1 else None), fmt(m2),
                 fmt(raw / 1e6 / m2 if m2 else None), ratio(m1, m2), fmt(rss1), fmt(rss2)))
    if have_cpu:
        c1, c2 = pct([cpu(r) for r in one], 50), pct([cpu(r) for r in two], 50)
        # CPU time (user + sys, every thread) splits a two-thread build's
        # shortfall into work the second thread adds and time a core stood
        # idle: at 1.8x on two cores, the two-thread build may spend at most
        # 2 / 1.8 = 1.11x the CPU of the one-thread build.
        L.append("")
        L.append("CPU time (user + sys, all threads; medians): one thread %s s, two threads "
                 "%s s, **%s** (at most 1.11× leaves room for 1.8× on two cores)." % (
                     fmt(c1), fmt(c2), ratio(c2, c1)))
    L.append("")
    c1, c2 = kind(1, 1), kind(2, 1)
    if c1 and c2:
        L += ["### Contentless, as the peers index", "",
              "None of the peers keeps the text: FTS5 is contentless, Xapian and Lucene "
              "store only the id. The same builds with `QUIRE_BENCH_CONTENTLESS=1` "
              "(`quire_writer_options.contentless`, `quire index --contentless`) keep each "
              "document's id but not its text; postings, positions and dictionary are the "
              "same. They alternate with the builds above. FTS5's build rate is that of its "
              "builds in the table at the top.", "",
              "| Quire | one thread (s) | two threads (s) | two threads ÷ one, rate | "
              "one thread ÷ FTS5, rate |", "|---|---|---|---|---|"]
        for label, a, b in (("documents stored (default)", one, two), ("contentless", c1, c2)):
            s1, s2 = median(a), median(b)
            L.append("| %s | %s | %s | %s | %s |" % (
                label, fmt(s1), fmt(s2), ratio(s1, s2), ratio(fts5_seconds, s1)))
        L.append("")
        L.append("Contentless builds (s, in order): one thread %s; two threads %s." % (
            "/".join(fmt(r["build_seconds"]) for r in c1),
            "/".join(fmt(r["build_seconds"]) for r in c2)))
        L.append("")
    return L


def time_file(path):
    """Peak RSS (KiB) and wall seconds from GNU time -v."""
    rss, wall = None, None
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if line.startswith("Maximum resident set size"):
                    rss = int(line.rsplit(":", 1)[1])
                elif line.startswith("Elapsed (wall clock) time"):
                    t = line.rsplit(" ", 1)[1].split(":")
                    wall = 0.0
                    for part in t:
                        wall = wall * 60 + float(part)
    return rss, wall


def reproduce_commands(rundir, engines):
    """The distinct bench/run commands behind the engines' figures, builds
    first, then query runs by time, each with what it measured."""
    runs = []
    for e in engines:
        r = kv_file(os.path.join(rundir, e + ".run"))
        if r:
            runs.append((e, r))
    order, what = [], collections.defaultdict(list)
    for e, r in runs:
        c = r.get("build_command")
        if c:
            if c not in what:
                order.append(c)
            what[c].append(LABEL[e] + " build")
    for e, r in sorted(runs, key=lambda x: float(x[1].get("stamp", "0") or 0)):
        c = r.get("query_command")
        if c:
            if c not in what:
                order.append(c)
            what[c].append(LABEL[e] + " queries")
    return [(c, what[c]) for c in order]


def pct(values, p):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return None
    if p == 50 and n % 2 == 0:
        return (v[n // 2 - 1] + v[n // 2]) / 2
    r = max(1, min(n, int(-(-p * n // 100))))
    return v[r - 1]


def read_results(path):
    """[(class, words, count, [count reps], [top10 reps], top10 returned)]"""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if len(f) < 7:
                continue
            creps = [float(x) for x in f[7].split(",")] if len(f) > 7 and f[7] else [float(f[3])]
            treps = [float(x) for x in f[8].split(",")] if len(f) > 8 and f[8] else [float(f[5])]
            returned = int(f[9]) if len(f) > 9 and f[9] else None
            rows.append((f[0], f[1], int(f[2]), creps, treps, returned))
    return rows


STRIP = "\"'()[]{}<>,.;:!?*`“”‘’«»"


def glued_forms(corpus_file, words, limit=64 << 20):
    """For each word, the most common whitespace-delimited forms that contain
    it as a run of letters but are not the bare word: the places where
    engines tokenize differently.  Reads at most `limit` bytes."""
    if not words or not os.path.exists(corpus_file):
        return {}
    parts, size = [], 0
    with open(corpus_file, "rb") as fh:
        for line in fh:
            size += len(line)
            if size > limit:
                break
            try:
                d = json.loads(line)
            except ValueError:
                continue
            parts.append(d.get("title") or "")
            parts.append(d.get("body") or "")
    text = "\n".join(parts).lower()
    alt = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
    rx = re.compile(r"[^\s]*?(?<![a-z])(%s)(?![a-z])[^\s]*" % alt)
    forms = collections.defaultdict(collections.Counter)
    # Every engine splits at spaces, quotes, brackets, dashes, slashes and
    # most punctuation: a form explains something only when what remains
    # around the word after such a split still differs from the word.
    sep = re.compile(r"[\"\u201c\u201d\u2018()\[\]{}<>,;!?*`\u2014\u2013/\\|=+~-]+")
    for m in rx.finditer(text):
        w = m.group(1)
        off = m.start(1) - m.start(0)
        chunk = m.group(0)
        # the piece of the chunk around the word's occurrence
        lo = max([x.end() for x in sep.finditer(chunk, 0, off)] + [0])
        nxt = sep.search(chunk, off + len(w))
        hi = nxt.start() if nxt else len(chunk)
        piece = chunk[lo:hi].strip(STRIP)
        if piece != w:
            forms[w][piece] += 1
    # Compounds: Quire also indexes `custom-houses` as the joined word
    # `customhouses`, and so `sem_op` and `and/or`; the peers only as
    # their parts.
    for w in words:
        if len(w) >= 4:
            rx = re.compile(r"(?<![a-z_/-])%s(?![a-z])" % "[-\u2010\u2011_/]?".join(w))
            for m in rx.finditer(text):
                if m.group(0) != w:
                    forms[w][m.group(0)] += 1
    # Acronyms: "U.S." is the term "us" for Xapian, "u.s" for Lucene and
    # "u" + "s" for FTS5.
    for w in words:
        if 2 <= len(w) <= 4:
            rx = re.compile(r"(?<![a-z.])%s\.?(?![a-z])" % r"\.".join(w))
            n = len(rx.findall(text))
            if n:
                forms[w][".".join(w) + "."] += n
    return forms


def cause_of(forms):
    kinds = collections.Counter()
    for f, n in forms.items():
        if "'" in f or "\u2019" in f:
            kinds["apostrophes"] += n
        elif "@" in f:
            kinds["e-mail addresses"] += n
        elif re.fullmatch(r"([a-z]\.)+[a-z]?\.?", f):
            kinds["acronyms with dots"] += n
        elif "://" in f or f.startswith("www") or re.search(r"[a-z]\.[a-z]", f):
            kinds["dotted words/URLs"] += n
        elif re.fullmatch(r"[a-z]+([-\u2010\u2011][a-z]+)+", f):
            kinds["hyphenated compounds (joined by Quire)"] += n
        elif "-" in f:
            kinds["hyphens"] += n
        elif "_" in f:
            kinds["underscores"] += n
        elif re.search(r"[0-9]", f):
            kinds["letters glued to digits"] += n
        elif re.search(r"[^\x00-\x7f]", f):
            kinds["non-ASCII letters"] += n
        else:
            kinds["other punctuation"] += n
    return ", ".join(k for k, _ in kinds.most_common(3))


def show_path(p):
    """A query file under bench/queries/ by its repository path, others as given."""
    i = p.rfind("/bench/queries/")
    return p[i + 1:] if i >= 0 else p


def fmt(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, int) or (isinstance(v, float) and abs(v) >= 1000):
        return "{:,.0f}{}".format(v, unit)
    if abs(v) >= 100:
        return "{:.0f}{}".format(v, unit)
    if abs(v) >= 10:
        return "{:.1f}{}".format(v, unit)
    return "{:.2f}{}".format(v, unit)


def ratio(q, p):
    if q is None or p is None or p == 0:
        return "–"
    r = q / p
    if r >= 10:
        return "{:.0f}×".format(r)
    if r >= 0.1:
        return "{:.2f}×".format(r)
    return "{:.2g}×".format(r)   # two significant digits, never "0.00×"


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    rundir, out = sys.argv[1], sys.argv[2]
    info = kv_file(os.path.join(rundir, "run.info"))
    raw = int(info.get("raw_bytes", "0") or 0)
    name = info.get("name", os.path.basename(rundir))

    present = [e for e in ENGINES if os.path.exists(os.path.join(rundir, e + ".tsv"))
               or os.path.exists(os.path.join(rundir, e + ".build"))]
    build = {}
    build_runs = {}   # engine -> build_seconds of every round, in order
    for e in present:
        b = kv_file(os.path.join(rundir, e + ".build"))
        rss, wall = time_file(os.path.join(rundir, e + ".time"))
        size = kv_file(os.path.join(rundir, e + ".size")).get("index_bytes")
        m = collections.OrderedDict()
        secs = float(b["build_seconds"]) if "build_seconds" in b else None
        runs = [(secs, wall, rss)]
        extra = glob.glob(os.path.join(rundir, e + ".b[0-9]*.build"))
        for p in sorted(extra, key=lambda p: int(re.search(r"\.b(\d+)\.build$", p).group(1))):
            bb = kv_file(p)
            if "build_seconds" in bb:
                r_rss, r_wall = time_file(p[:-len(".build")] + ".time")
                runs.append((float(bb["build_seconds"]), r_wall, r_rss))
        if secs is not None and len(runs) > 1:
            build_runs[e] = [r[0] for r in runs]
            secs = pct(build_runs[e], 50)
            walls = [r[1] for r in runs if r[1] is not None]
            wall = pct(walls, 50) if walls else wall
            rsses = [r[2] for r in runs if r[2] is not None]
            rss = max(rsses) if rsses else rss
        m["docs"] = int(b["docs"]) if "docs" in b else None
        m["build_seconds"] = secs
        m["wall_seconds"] = wall
        m["mb_per_s"] = raw / 1e6 / secs if secs else None
        m["peak_rss_mib"] = rss / 1024.0 if rss else None
        m["index_mib"] = int(size) / 1048576.0 if size else None
        m["index_over_raw"] = int(size) / raw if size and raw else None
        if e == "quire":
            st = kv_file(os.path.join(rundir, "quire.stats"))
            if st.get("bytes_total"):
                search = sum(int(st.get(k, 0)) for k in (
                    "bytes_dict", "bytes_docs", "bytes_skip", "bytes_pos", "bytes_norms"))
                m["search_mib"] = search / 1048576.0
                m["search_over_raw"] = search / raw if raw else None
                # issue 4's size target: postings + positions + dictionary
                ppd = search - int(st.get("bytes_norms", 0))
                m["ppd_over_raw"] = ppd / raw if raw else None
                m["store_mib"] = int(st.get("bytes_store", 0)) / 1048576.0
                for k in ("dict", "docs", "skip", "pos", "norms", "store", "ids", "other"):
                    m["bytes_" + k] = int(st.get("bytes_" + k, 0))
        build[e] = m

    results = {}
    rounds = {}
    for e in present:
        p = os.path.join(rundir, e + ".tsv")
        if os.path.exists(p):
            results[e] = read_results(p)
            rounds[e] = 1
            for extra in sorted(glob.glob(os.path.join(rundir, e + ".r*.tsv"))):
                results[e] += read_results(extra)
                rounds[e] += 1
    qengines = [e for e in present if e in results]

    # per class pooled latencies
    lat = {}
    classes_seen = []
    for e in qengines:
        pool = collections.defaultdict(lambda: ([], []))
        for cls, _, _, cr, tr, _ in results[e]:
            if cls not in classes_seen:
                classes_seen.append(cls)
            pool[cls][0].extend(cr)
            pool[cls][1].extend(tr)
            pool["all"][0].extend(cr)
            pool["all"][1].extend(tr)
        lat[e] = {cls: {"count_median_us": pct(c, 50), "count_p99_us": pct(c, 99),
                        "top10_median_us": pct(t, 50), "top10_p99_us": pct(t, 99)}
                  for cls, (c, t) in pool.items()}
    classes = [c for c in CLASSES if c in classes_seen] + \
              [c for c in classes_seen if c not in CLASSES] + ["all"]

    # hit-count agreement
    counts = collections.OrderedDict()
    short = []   # top-10 searches that returned fewer than min(10, count)
    for e in qengines:
        for cls, words, n, _, _, ret in results[e]:
            counts.setdefault((cls, words), {})[e] = n
            if ret is not None and ret != min(10, n) and (e, cls, words, n, ret) not in short:
                short.append((e, cls, words, n, ret))
    disagree = [(k, v) for k, v in counts.items() if len(set(v.values())) > 1]
    ref = "quire" if "quire" in qengines else (qengines[0] if qengines else None)
    agree_line = []
    if ref:
        for e in qengines:
            if e == ref:
                continue
            same = sum(1 for v in counts.values() if e in v and ref in v and v[e] == v[ref])
            agree_line.append("%s vs %s: %d/%d queries agree" % (
                LABEL[ref], LABEL[e], same, len(counts)))
    words = sorted({w for (cls, q), _ in disagree for w in q.split()})
    forms = glued_forms(info.get("corpus_file", ""), words) if disagree else {}

    scale = scale_file(os.path.join(rundir, "quire.scale"))

    # ---- CSV
    with open(out + ".csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["corpus", "engine", "section", "class", "metric", "value"])
        for e, m in build.items():
            for k, v in m.items():
                if v is not None:
                    w.writerow([name, e, "build", "", k, "%.6g" % v if isinstance(v, float) else v])
        for e in qengines:
            for cls in classes:
                for k, v in lat[e].get(cls, {}).items():
                    if v is not None:
                        w.writerow([name, e, "query", cls, k, "%.2f" % v])
        for (cls, q), v in counts.items():
            for e, n in v.items():
                w.writerow([name, e, "count", cls, q, n])
        for r in scale:
            for k in ("build_seconds", "index_seconds", "optimize_seconds", "rss_kb", "user",
                      "sys"):
                if k in r:
                    w.writerow([name, "quire", "scale", "threads=%d%s" % (
                        r["threads"], " contentless" if r.get("contentless") else ""), k,
                        "%.6g" % r[k]])

    # ---- Markdown
    peers = [e for e in present if e != "quire"]
    have_q = "quire" in present
    L = []
    L.append("# Peer benchmark: %s" % name)
    L.append("")
    L.append("Corpus `%s` (%s, %s documents), query set `%s`, %s timed repetitions "
             "per query and measure." % (
                 info.get("corpus", "?"), fmt(raw / 1048576.0, " MiB"),
                 fmt(next((m["docs"] for m in build.values() if m.get("docs")), None)),
                 show_path(info.get("queries", "?")), info.get("reps", "?")))
    nr = sorted(set(rounds.values()))
    if nr and nr != [1]:
        L[-1] = L[-1][:-1] + (", in %s rounds in which the engines took turns; each "
                              "class's median and p99 pool every round." % (
                                  "/".join(str(x) for x in nr)))
    cmds = reproduce_commands(rundir, present)
    if len(cmds) > 1:
        L.append("Reproduce, in this order (the report pools their measurements):")
        L.append("")
        for i, (c, what) in enumerate(cmds):
            L.append("%d. `%s` (%s)" % (i + 1, c, ", ".join(what)))
        L.append("")
        L.append("Machine: %s CPUs, engines pinned as each command's `--cpu` says; "
                 "Quire at commit %s." % (info.get("host_cpus", "?"),
                                          info.get("commit", "unknown")))
    else:
        L.append("Reproduce: `%s`." % info.get("command", "bench/run"))
        L.append("Machine: %s CPUs, engines pinned to CPU %s; Quire at commit %s." % (
            info.get("host_cpus", "?"), info.get("cpu", "any"), info.get("commit", "unknown")))
    L.append("")
    hdr = "| figure | " + " | ".join(LABEL[e] for e in present)
    if have_q:
        hdr += " | " + " | ".join("Quire ÷ %s" % LABEL[e] for e in peers)
    hdr += " |"
    ncol = hdr.count("|") - 1
    L.append("## Build")
    L.append("")
    L.append(hdr)
    L.append("|" + "---|" * ncol)
    rows = [("build time (s)", "build_seconds", ""), ("throughput (MB/s)", "mb_per_s", ""),
            ("peak RSS (MiB)", "peak_rss_mib", ""), ("index size (MiB)", "index_mib", ""),
            ("index ÷ raw", "index_over_raw", "")]
    for label, key, unit in rows:
        cells = [fmt(build[e].get(key), unit) for e in present]
        line = "| %s | %s" % (label, " | ".join(cells))
        if have_q:
            line += " | " + " | ".join(ratio(build["quire"].get(key), build[e].get(key))
                                       for e in peers)
        L.append(line + " |")
    if have_q and build["quire"].get("search_mib") is not None:
        q = build["quire"]
        L.append("| Quire search part only (MiB) | %s%s |" % (
            fmt(q["search_mib"]), " | " * (ncol - 2)))
        for label, key in (("search part ÷ raw", "search_over_raw"),
                           ("postings + positions + dictionary ÷ raw", "ppd_over_raw")):
            line = "| %s | %s" % (label, fmt(q[key]))
            line += " | " + " | ".join(fmt(build[e].get("index_over_raw")) for e in peers)
            line += " | " + " | ".join(ratio(q[key], build[e].get("index_over_raw"))
                                       for e in peers)
            L.append(line + " |")
        L.append("")
        L.append("Quire sections (bytes): " + ", ".join(
            "%s %s" % (k, fmt(q["bytes_" + k])) for k in
            ("dict", "docs", "skip", "pos", "norms", "store", "ids", "other")) +
            ". The search part is dict + docs + skip + pos + norms; postings + positions + "
            "dictionary (issue 4's size target) is the same without norms; `store` holds the "
            "original documents, which none of the peers keep (FTS5 is contentless, "
            "Xapian and Lucene store only the id).")
    if build_runs:
        L.append("")
        L.append("Build time, throughput and wall time are the median of each engine's builds, "
                 "taken in turns; peak RSS is the largest. Builds (s, in order): " +
                 "; ".join("%s %s" % (LABEL[e], "/".join(fmt(x) for x in build_runs[e]))
                           for e in present if e in build_runs) + ".")
    L.append("")
    L.extend(scale_lines(scale, raw, build.get("fts5", {}).get("build_seconds")))
    L.append("## Query latency (µs, warm, in-process)")
    L.append("")
    L.append("`count` = exact number of hits; `top10` = 10 best by BM25. Median and p99 "
             "over all timed repetitions of all queries of the class. A ratio below 1 "
             "means Quire is faster.")
    L.append("")
    qpresent = [e for e in present if e in qengines]
    qpeers = [e for e in qpresent if e != "quire"]
    hdr = "| class | figure | " + " | ".join(LABEL[e] for e in qpresent)
    if "quire" in qengines:
        hdr += " | " + " | ".join("Quire ÷ %s" % LABEL[e] for e in qpeers)
    hdr += " |"
    L.append(hdr)
    L.append("|" + "---|" * (hdr.count("|") - 1))
    for cls in classes:
        for key, label in (("count_median_us", "count median"), ("count_p99_us", "count p99"),
                           ("top10_median_us", "top10 median"), ("top10_p99_us", "top10 p99")):
            cells = [fmt(lat[e].get(cls, {}).get(key)) for e in qpresent]
            line = "| %s | %s | %s" % (cls, label, " | ".join(cells))
            if "quire" in qengines:
                line += " | " + " | ".join(ratio(lat["quire"].get(cls, {}).get(key),
                                                 lat[e].get(cls, {}).get(key)) for e in qpeers)
            L.append(line + " |")
    L.append("")
    L.append("## Hit counts")
    L.append("")
    if agree_line:
        L.append("; ".join(agree_line) + ".")
        L.append("")
    if disagree:
        L.append("%d queries where the engines disagree on the number of hits. "
                 "Likely cause: tokenization differences; the column shows the forms "
                 "of the query's words in the corpus that tokenizers split or join "
                 "differently (from the first 64 MiB of the corpus)." % len(disagree))
        L.append("")
        L.append("| class | query | " + " | ".join(LABEL[e] for e in qengines) +
                 " | likely cause | forms in the corpus |")
        L.append("|" + "---|" * (len(qengines) + 4))
        for (cls, q), v in disagree:
            f = collections.Counter()
            for wd in q.split():
                f.update(forms.get(wd, {}))
            top = ", ".join("`%s` %d" % (k.replace("|", "\\|").replace("`", "'")[:40], n)
                            for k, n in f.most_common(4))
            cause = cause_of(f) if f else ("phrase positions (stop words, title/body gap) "
                                            if cls == "phrase" else "?")
            L.append("| %s | %s | %s | %s | %s |" % (
                cls, q, " | ".join(fmt(v.get(e)) for e in qengines), cause, top))
    else:
        L.append("All engines agree on every query's hit count.")
    L.append("")
    if short:
        L.append("**Top-10 searches that returned other than min(10, count) hits** "
                 "(a bug in that engine or its adapter):")
        L.append("")
        for e, cls, words, n, ret in short:
            L.append("- %s, %s `%s`: count %d, top-10 returned %d" % (
                LABEL[e], cls, words, n, ret))
    else:
        L.append("Every top-10 search returned min(10, count) hits.")
    L.append("")
    L.append("![median latency per class](%s.png)" % os.path.basename(out))
    L.append("")
    micro = os.path.join(rundir, "quire.micro")
    if os.path.exists(micro):
        L.append("## Hot paths (`bench_micro` on Quire's index)")
        L.append("")
        L.append("Each figure next to the number it should approach: memory bandwidth, and "
                 "for block decode the published SIMD-BP128 / Stream VByte rates (target "
                 "≥ 2 G integers/s). Synthetic blocks measure the decoder alone; the "
                 "index's posting lists add per-list set-up, tails and tf decoding.")
        L.append("")
        L.append("```")
        with open(micro, encoding="utf-8", errors="replace") as fh:
            L.extend(line.rstrip("\n") for line in fh)
        L.append("```")
        L.append("")
    with open(out + ".md", "w", encoding="utf-8") as fh:
        fh.write("\n".join(L))

    plot(out, qengines, classes, lat, name)
    return 0


def plot(out, engines, classes, lat, name):
    if not engines or not shutil.which("gnuplot"):
        return
    dat = out + ".png.dat"
    with open(dat, "w") as fh:
        for cls in classes:
            row = [cls]
            for key in ("count_median_us", "top10_median_us"):
                for e in engines:
                    v = lat[e].get(cls, {}).get(key)
                    row.append("%.3f" % v if v else "NaN")
            fh.write(" ".join(row) + "\n")
    n = len(engines)
    plots = []
    for panel, off in (("exact count", 2), ("top-10 (BM25)", 2 + n)):
        cols = ", ".join("'%s' using %d:xtic(1) title '%s'" % (
            dat if i == 0 else "", off + i, LABEL[e]) for i, e in enumerate(engines))
        plots.append("set title '%s — %s, median latency'\nplot %s\n" % (name, panel, cols))
    script = """set terminal pngcairo size 1200,520 font 'sans,10'
set output '%s.png'
set multiplot layout 1,2
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set ylabel 'microseconds (log scale)'
set grid ytics
set key top left
%s
unset multiplot
""" % (out, "".join(plots))
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except subprocess.CalledProcessError as exc:
        sys.stderr.write("aggregate: gnuplot failed: %s\n" % exc.stderr.decode()[:500])
    finally:
        os.unlink(dat)


if __name__ == "__main__":
    sys.exit(main())
