"""Quire for Python: the C library's public API (include/quire.h) through ctypes.

Pure Python, one file: nothing to compile when it is installed (the complaint
users of compiled bindings make most).  It needs the shared library,
libquire.so.1, from `cmake --install` (found through the dynamic loader) or
named by the environment variable QUIRE_LIBRARY.

    import quire
    with quire.Writer("idx") as w:
        w.add("moby", title="Moby-Dick", body="Call me Ishmael.", year="1851")
        w.commit()
    with quire.Index("idx") as ix:
        for hit in ix.search("ishmael"):
            print(hit.id, hit.score, ix.snippet(hit.doc, "ishmael"))
        ix.search("whale year:[1800 TO 1900]", sort="-year")

Every failure of the library raises QuireError with its code, message and,
for a malformed query, the column.  Strings go in and come out as UTF-8
(bytes are accepted too); stored text that is not valid UTF-8 comes back with
replacement characters.
"""

import ctypes
import ctypes.util
import os
from collections import namedtuple

__all__ = ["Index", "Writer", "Hit", "Hits", "Count", "QuireError", "verify", "rebuild", "tokenize", "TOK_DEFAULT", "TOK_FOLD_DIACRITICS",
           "TOK_STEM_EN", "TOK_STOPWORDS_EN", "TOK_COMMONGRAMS", "TOK_COMMONPAIRS",
           "TOK_TITLE_TERMS"]

# Status codes (quire.h).
OK, EARG, ENOMEM, EIO, ECORRUPT, EVERSION, ENOTFOUND, EQUERY, EINPUT, ELOCKED = range(10)

TOK_FOLD_DIACRITICS = 1 << 0
TOK_STEM_EN = 1 << 1
TOK_STOPWORDS_EN = 1 << 2
TOK_COMMONGRAMS = 1 << 3
TOK_COMMONPAIRS = 1 << 4
TOK_TITLE_TERMS = 1 << 5
TOK_DEFAULT = TOK_FOLD_DIACRITICS | TOK_COMMONPAIRS

WAIT_FOREVER = 0xFFFFFFFF


class QuireError(Exception):
    """A failed library call: .code (quire.h's QUIRE_E*), .column (1-based
    byte column of a malformed query, else 0) and the library's message."""

    def __init__(self, code, message, column=0):
        super().__init__(message)
        self.code = code
        self.column = column


# ---- the C declarations ------------------------------------------------------

class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("column", ctypes.c_size_t),
                ("message", ctypes.c_char * 512)]


class _WriterOptions(ctypes.Structure):
    _fields_ = [("mem_budget", ctypes.c_size_t), ("tok_flags", ctypes.c_uint32),
                ("threads", ctypes.c_uint32), ("contentless", ctypes.c_uint32),
                ("lock_wait_ms", ctypes.c_uint32)]


class _Field(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("name_len", ctypes.c_size_t),
                ("value", ctypes.c_char_p), ("value_len", ctypes.c_size_t)]


class _DocInput(ctypes.Structure):
    _fields_ = [("id", ctypes.c_char_p), ("id_len", ctypes.c_size_t),
                ("title", ctypes.c_char_p), ("title_len", ctypes.c_size_t),
                ("body", ctypes.c_char_p), ("body_len", ctypes.c_size_t),
                ("fields", ctypes.POINTER(_Field)), ("nfields", ctypes.c_size_t)]


class _Span(ctypes.Structure):
    _fields_ = [("start", ctypes.c_size_t), ("end", ctypes.c_size_t)]


class _RebuildOptions(ctypes.Structure):
    _fields_ = [("writer", _WriterOptions), ("set_tok_flags", ctypes.c_uint32),
                ("salvage", ctypes.c_uint32)]


class _RebuildStats(ctypes.Structure):
    _fields_ = [("docs", ctypes.c_uint64), ("lost", ctypes.c_uint64),
                ("segments", ctypes.c_uint32), ("damaged", ctypes.c_uint32),
                ("tok_flags", ctypes.c_uint32)]


class _FieldInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.POINTER(ctypes.c_char)), ("name_len", ctypes.c_size_t),
                ("docs", ctypes.c_uint64), ("min", ctypes.c_double), ("max", ctypes.c_double)]


class _Hit(ctypes.Structure):
    _fields_ = [("doc", ctypes.c_uint64), ("score", ctypes.c_double)]


class _SearchOptions(ctypes.Structure):
    _fields_ = [("sort_field", ctypes.c_char_p), ("descending", ctypes.c_int),
                ("time_limit", ctypes.c_double)]


class _Stats(ctypes.Structure):
    _fields_ = [("generation", ctypes.c_uint64), ("segments", ctypes.c_uint32),
                ("tok_flags", ctypes.c_uint32), ("docs", ctypes.c_uint64),
                ("deleted_docs", ctypes.c_uint64), ("terms", ctypes.c_uint64),
                ("postings", ctypes.c_uint64), ("positions", ctypes.c_uint64),
                ("bytes_dict", ctypes.c_uint64), ("bytes_docs", ctypes.c_uint64),
                ("bytes_skip", ctypes.c_uint64), ("bytes_pos", ctypes.c_uint64),
                ("bytes_norms", ctypes.c_uint64), ("bytes_store", ctypes.c_uint64),
                ("bytes_ids", ctypes.c_uint64), ("bytes_other", ctypes.c_uint64),
                ("bytes_total", ctypes.c_uint64)]


def _load():
    path = os.environ.get("QUIRE_LIBRARY") or ctypes.util.find_library("quire") or "libquire.so.1"
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise ImportError("quire: cannot load the shared library %r (install it with "
                          "`cmake --install`, or set QUIRE_LIBRARY): %s" % (path, e)) from None


_lib = _load()
_P = ctypes.c_void_p
_ERR = ctypes.POINTER(_Error)
_SZ = ctypes.c_size_t
_U64P = ctypes.POINTER(ctypes.c_uint64)


def _decl(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_writer_open = _decl("quire_writer_open", ctypes.c_int, ctypes.c_char_p,
                     ctypes.POINTER(_WriterOptions), ctypes.POINTER(_P), _ERR)
_writer_add = _decl("quire_writer_add", ctypes.c_int, _P, ctypes.POINTER(_DocInput),
                    ctypes.POINTER(ctypes.c_int), _ERR)
_writer_delete = _decl("quire_writer_delete", ctypes.c_int, _P, ctypes.c_char_p, _SZ,
                       ctypes.POINTER(ctypes.c_int), _ERR)
_writer_commit = _decl("quire_writer_commit", ctypes.c_int, _P, _ERR)
_writer_optimize = _decl("quire_writer_optimize", ctypes.c_int, _P, _ERR)
_writer_free = _decl("quire_writer_free", None, _P)
_writer_progress = _decl("quire_writer_progress", None, _P, _U64P, _U64P)
_index_open = _decl("quire_index_open", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_P), _ERR)
_index_close = _decl("quire_index_close", None, _P)
_search_ex = _decl("quire_search_ex", ctypes.c_int, _P, ctypes.c_char_p, _SZ, _SZ,
                   ctypes.POINTER(_SearchOptions), ctypes.POINTER(_P), _ERR)
_count_ex = _decl("quire_count_ex", ctypes.c_int, _P, ctypes.c_char_p, _SZ,
                  ctypes.POINTER(_SearchOptions), _U64P, ctypes.POINTER(ctypes.c_int), _ERR)
_results_partial = _decl("quire_results_partial", ctypes.c_int, _P)
_suggest = _decl("quire_suggest", ctypes.c_int, _P, ctypes.c_char_p, _SZ, ctypes.c_char_p,
                 ctypes.c_char_p, ctypes.c_char_p, _SZ, ctypes.POINTER(_SZ), _ERR)
_results_size = _decl("quire_results_size", _SZ, _P)
_results_get = _decl("quire_results_get", ctypes.POINTER(_Hit), _P, _SZ)
_results_free = _decl("quire_results_free", None, _P)
_doc_get = _decl("quire_doc_get", ctypes.c_int, _P, ctypes.c_uint64, ctypes.POINTER(_P), _ERR)
_doc_find = _decl("quire_doc_find", ctypes.c_int, _P, ctypes.c_char_p, _SZ, _U64P, _ERR)
_doc_value = _decl("quire_doc_value", ctypes.c_int, _P, ctypes.c_uint64, ctypes.c_char_p,
                   ctypes.POINTER(ctypes.c_double), _ERR)
_doc_nfields = _decl("quire_doc_nfields", _SZ, _P)
_doc_field_at = _decl("quire_doc_field_at", None, _P, _SZ, ctypes.POINTER(ctypes.c_void_p),
                      ctypes.POINTER(_SZ), ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_SZ))
_doc_free = _decl("quire_doc_free", None, _P)
_snippet = _decl("quire_snippet", ctypes.c_int, _P, ctypes.c_uint64, ctypes.c_char_p, _SZ,
                 ctypes.c_char_p, ctypes.c_char_p, _SZ, ctypes.c_char_p, _SZ, _ERR)
_stats = _decl("quire_index_stats", ctypes.c_int, _P, ctypes.POINTER(_Stats), _ERR)
_highlight = _decl("quire_highlight", ctypes.c_int, _P, ctypes.c_uint64, ctypes.c_char_p, _SZ,
                   ctypes.c_char_p, ctypes.POINTER(_Span), _SZ, ctypes.POINTER(_SZ), _ERR)
_FIELD = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_FieldInfo))
_fields = _decl("quire_index_fields", ctypes.c_int, _P, _FIELD, ctypes.c_void_p, _ERR)
_REPORT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
_verify = _decl("quire_verify", ctypes.c_int, ctypes.c_char_p, _REPORT, ctypes.c_void_p, _ERR)
_rebuild = _decl("quire_rebuild", ctypes.c_int, ctypes.c_char_p,
                 ctypes.POINTER(_RebuildOptions), _REPORT, ctypes.c_void_p,
                 ctypes.POINTER(_RebuildStats), _ERR)
_TOKEN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char), _SZ,
                          ctypes.c_uint32, _SZ, _SZ)
_tokenize = _decl("quire_tokenize", ctypes.c_int, ctypes.c_uint32, ctypes.c_char_p, _SZ, _TOKEN,
                  ctypes.c_void_p, _ERR)


def _b(s):
    """UTF-8 bytes of a str (bytes pass through)."""
    if isinstance(s, bytes):
        return s
    if not isinstance(s, str):
        raise TypeError("expected str or bytes, got %s" % type(s).__name__)
    return s.encode("utf-8")


def _check(rc, err):
    if rc != OK:
        raise QuireError(rc, err.message.decode("utf-8", "replace"), err.column)


def _text(ptr, n):
    return ctypes.string_at(ptr, n).decode("utf-8", "replace") if n else ""


Hit = namedtuple("Hit", "doc score id title")
Hit.__doc__ = """A search result: the index-wide document number (for Index.get and
Index.snippet), its score (BM25; with sort=, the field's number, NaN for
none), and its id and title as stored."""


class Hits(list):
    """Index.search's list of Hit; `partial` is True when the search stopped
    at its time limit, and the hits are the best of the documents it looked
    at."""
    partial = False


class Count(int):
    """Index.count's number; `partial` is True when the count stopped at its
    time limit, and is of the documents it looked at."""
    partial = False


def _search_options(sort, time_limit):
    o = _SearchOptions()
    if sort is not None:
        desc = sort.startswith("-")
        o.sort_field = _b(sort[1:] if desc else sort)
        o.descending = int(desc)
    if time_limit is not None:
        if not time_limit > 0:
            raise ValueError("time_limit must be a number of seconds above 0")
        o.time_limit = time_limit
    return o


class _Handle:
    """A library object freed by `_free`: closed at most once, by close(),
    the end of a `with` block or garbage collection; used after, it raises."""

    _what = "handle"

    def __init__(self):
        self._h = _P()

    def close(self):
        if self._h:
            type(self)._free(self._h)
            self._h = _P()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if hasattr(self, "_h"):
            self.close()

    def _live(self):
        if not self._h:
            raise QuireError(EARG, "the %s is closed" % self._what)
        return self._h


class Index(_Handle):
    """A committed generation of the index at `path`, read-only; any number
    may be open, while a Writer works too (they keep the generation they
    opened).  Close it, or use it as a context manager."""

    _what = "index"
    _free = staticmethod(_index_close)

    def __init__(self, path):
        super().__init__()
        err = _Error()
        _check(_index_open(_b(path), ctypes.byref(self._h), ctypes.byref(err)), err)

    def search(self, query, k=10, offset=0, sort=None, time_limit=None):
        """The best k matches after the first `offset`, best first, as Hits:
        by BM25, or with sort="field" by the field's number, lowest first
        ("-field": highest first), documents without one last.  With
        time_limit (seconds), a search still running then stops and returns
        what it has, with Hits.partial True."""
        if k < 0 or offset < 0:
            raise ValueError("k and offset must not be negative")
        q = _b(query)
        opt = _search_options(sort, time_limit)
        res = _P()
        err = _Error()
        _check(_search_ex(self._live(), q, len(q), k + offset, ctypes.byref(opt),
                          ctypes.byref(res), ctypes.byref(err)), err)
        try:
            hits = Hits()
            hits.partial = bool(_results_partial(res))
            for i in range(offset, _results_size(res)):
                h = _results_get(res, i).contents
                doc = self.get(h.doc)
                hits.append(Hit(h.doc, h.score, doc.get("id", ""), doc.get("title", "")))
            return hits
        finally:
            _results_free(res)

    def count(self, query, time_limit=None):
        """The exact number of matching documents, as a Count.  With
        time_limit (seconds), a count still running then stops and returns
        the matches among the documents it looked at, with Count.partial
        True."""
        q = _b(query)
        opt = _search_options(None, time_limit)
        n = ctypes.c_uint64()
        partial = ctypes.c_int()
        err = _Error()
        _check(_count_ex(self._live(), q, len(q), ctypes.byref(opt), ctypes.byref(n),
                         ctypes.byref(partial), ctypes.byref(err)), err)
        c = Count(n.value)
        c.partial = bool(partial.value)
        return c

    def get(self, doc):
        """The stored fields of document number `doc`, as a dict."""
        d = _P()
        err = _Error()
        _check(_doc_get(self._live(), doc, ctypes.byref(d), ctypes.byref(err)), err)
        try:
            out = {}
            name, value = ctypes.c_void_p(), ctypes.c_void_p()
            nl, vl = _SZ(), _SZ()
            for i in range(_doc_nfields(d)):
                _doc_field_at(d, i, ctypes.byref(name), ctypes.byref(nl), ctypes.byref(value),
                              ctypes.byref(vl))
                out.setdefault(_text(name.value, nl.value), _text(value.value, vl.value))
            return out
        finally:
            _doc_free(d)

    def find(self, id):
        """The document number of the live document with this id, or None."""
        b = _b(id)
        doc = ctypes.c_uint64()
        err = _Error()
        rc = _doc_find(self._live(), b, len(b), ctypes.byref(doc), ctypes.byref(err))
        if rc == ENOTFOUND:
            return None
        _check(rc, err)
        return doc.value

    def value(self, doc, field):
        """The number the index keeps for a document's field (a number, or a
        date as seconds since 1970), or None."""
        v = ctypes.c_double()
        err = _Error()
        rc = _doc_value(self._live(), doc, _b(field), ctypes.byref(v), ctypes.byref(err))
        if rc == ENOTFOUND:
            return None
        _check(rc, err)
        return v.value

    def snippet(self, doc, query, open="[", close="]", max_bytes=200):
        """An excerpt of the document around the query's first match, the
        matches between `open` and `close`."""
        q = _b(query)
        cap = max_bytes * 4 + 256
        buf = ctypes.create_string_buffer(cap)
        err = _Error()
        _check(_snippet(self._live(), doc, q, len(q), _b(open), _b(close), max_bytes, buf, cap,
                        ctypes.byref(err)), err)
        return buf.value.decode("utf-8", "replace")

    def highlight(self, doc, query, field="body"):
        """Where the query matches a stored field of the document: (start,
        end) byte offsets into the field's UTF-8 value, ascending."""
        q = _b(query)
        cap = 64
        while True:
            spans = (_Span * cap)()
            n = _SZ()
            err = _Error()
            _check(_highlight(self._live(), doc, q, len(q), _b(field), spans, cap,
                              ctypes.byref(n), ctypes.byref(err)), err)
            if n.value <= cap:
                return [(spans[i].start, spans[i].end) for i in range(n.value)]
            cap = n.value

    def suggest(self, query):
        """"Did you mean": the corrected query, or None."""
        q = _b(query)
        cap = 4 * len(q) + 1024
        buf = ctypes.create_string_buffer(cap)
        n = _SZ()
        err = _Error()
        _check(_suggest(self._live(), q, len(q), b"", b"", buf, cap, ctypes.byref(n),
                        ctypes.byref(err)), err)
        return buf.value.decode("utf-8", "replace") if n.value else None

    def fields(self):
        """The fields with numbers (to sort and filter by): name ->
        (live documents with one, least, greatest)."""
        out = {}

        def on(ctx, f):
            f = f.contents
            out[_text(f.name, f.name_len)] = (f.docs, f.min, f.max)
            return 0

        err = _Error()
        _check(_fields(self._live(), _FIELD(on), None, ctypes.byref(err)), err)
        return out

    def stats(self):
        """Counts and sizes, as quire stats prints them."""
        st = _Stats()
        err = _Error()
        _check(_stats(self._live(), ctypes.byref(st), ctypes.byref(err)), err)
        return {name: getattr(st, name) for name, _ in _Stats._fields_}


class Writer(_Handle):
    """The one writer of the index at `path` (created when there is none).
    Documents added become visible to new Index objects at commit(); close()
    without a commit discards them.  `wait` is how many seconds to wait for
    another writer (None: as long as it takes)."""

    _what = "writer"
    _free = staticmethod(_writer_free)

    def __init__(self, path, threads=1, mem_budget=0, tok_flags=TOK_DEFAULT, contentless=False,
                 wait=0.0):
        opt = _writer_options(threads, mem_budget, tok_flags, contentless, wait)
        super().__init__()
        err = _Error()
        _check(_writer_open(_b(path), ctypes.byref(opt), ctypes.byref(self._h),
                            ctypes.byref(err)), err)

    def add(self, id, title="", body="", **fields):
        """Adds a document; extra keyword fields are stored (and a number or
        date among them can be sorted and filtered by).  Returns whether it
        replaced a document with the same id."""
        keep = [_b(id), _b(title), _b(body)]
        arr = (_Field * max(len(fields), 1))()
        for i, (name, value) in enumerate(fields.items()):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = repr(value)
            n, v = _b(name), _b(value)
            keep += [n, v]
            arr[i] = _Field(n, len(n), v, len(v))
        d = _DocInput(keep[0], len(keep[0]), keep[1], len(keep[1]), keep[2], len(keep[2]),
                      arr, len(fields))
        replaced = ctypes.c_int()
        err = _Error()
        _check(_writer_add(self._live(), ctypes.byref(d), ctypes.byref(replaced),
                           ctypes.byref(err)), err)
        return bool(replaced.value)

    def delete(self, id):
        """Deletes the document with this id at the next commit; returns
        whether there was one."""
        b = _b(id)
        deleted = ctypes.c_int()
        err = _Error()
        _check(_writer_delete(self._live(), b, len(b), ctypes.byref(deleted), ctypes.byref(err)),
               err)
        return bool(deleted.value)

    def progress(self):
        """(documents added, input bytes seen) so far."""
        docs, nbytes = ctypes.c_uint64(), ctypes.c_uint64()
        _writer_progress(self._live(), ctypes.byref(docs), ctypes.byref(nbytes))
        return docs.value, nbytes.value

    def commit(self):
        err = _Error()
        _check(_writer_commit(self._live(), ctypes.byref(err)), err)

    def optimize(self):
        """Commits, then merges the index into one segment."""
        err = _Error()
        _check(_writer_optimize(self._live(), ctypes.byref(err)), err)


def _writer_options(threads, mem_budget, tok_flags, contentless, wait):
    return _WriterOptions(mem_budget=mem_budget, tok_flags=tok_flags, threads=threads,
                          contentless=int(bool(contentless)),
                          lock_wait_ms=WAIT_FOREVER if wait is None
                          else int(min(wait * 1000, WAIT_FOREVER - 1)))


def _collector():
    """A list and the report callback (quire_report_fn) that appends to it;
    the callback must stay referenced while the library may call it."""
    lines = []
    return lines, _REPORT(lambda ctx, line: lines.append(line.decode("utf-8", "replace")))


def verify(path):
    """Checks every checksum and structure of the index at `path`; returns
    the problems found, one line each (an empty list when it is sound)."""
    lines, cb = _collector()
    err = _Error()
    rc = _verify(_b(path), cb, None, ctypes.byref(err))
    if rc != OK and rc != ECORRUPT:
        _check(rc, err)
    if rc == ECORRUPT and not lines:
        lines.append(err.message.decode("utf-8", "replace"))
    return lines


def rebuild(path, tok_flags=None, salvage=False, threads=1, mem_budget=0, wait=0.0):
    """Indexes the stored documents of the index at `path` again (with
    other tokenizer flags when given; salvage=True publishes what can be
    read of a damaged index) and returns (stats dict, report lines)."""
    opt = _RebuildOptions(writer=_writer_options(threads, mem_budget,
                                                 TOK_DEFAULT if tok_flags is None else tok_flags,
                                                 False, wait),
                          set_tok_flags=int(tok_flags is not None), salvage=int(bool(salvage)))
    lines, cb = _collector()
    st = _RebuildStats()
    err = _Error()
    _check(_rebuild(_b(path), ctypes.byref(opt), cb, None, ctypes.byref(st), ctypes.byref(err)),
           err)
    return {name: getattr(st, name) for name, _ in _RebuildStats._fields_}, lines


def tokenize(text, tok_flags=TOK_DEFAULT):
    """The terms an index with these flags makes of `text`: a list of
    (term, position, byte start, byte end) in the text's UTF-8."""
    out = []

    def emit(ctx, term, n, pos, start, end):
        out.append((ctypes.string_at(term, n).decode("utf-8", "replace"), pos, start, end))
        return 0

    b = _b(text)
    err = _Error()
    _check(_tokenize(tok_flags, b, len(b), _TOKEN(emit), None, ctypes.byref(err)), err)
    return out

