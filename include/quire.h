/*
 * quire.h — the one public interface of libquire, a full-text search engine.
 *
 * Quire indexes text offline into an on-disk inverted index (a directory of
 * immutable segment files named by a MANIFEST) and answers boolean and phrase
 * queries ranked by BM25.  Everything a program needs is declared here; the
 * `quire` command-line tool uses nothing else.
 *
 * Conventions
 *  - Handles are opaque.  Every handle returned through an out-parameter is
 *    owned by the caller and released by the matching `_free`/`_close`.
 *  - Every fallible function returns an `int` status: QUIRE_OK (0) or one of
 *    the QUIRE_E* codes below.  When `err` is not NULL it receives the code
 *    and a one-line human-readable message.  The library never prints, never
 *    exits and never aborts.
 *  - Strings are UTF-8 with explicit lengths; they need not be NUL-terminated
 *    unless a parameter says so.  Invalid UTF-8 is accepted and repaired
 *    (U+FFFD), never rejected.
 *  - Thread safety: a quire_index may be searched from many threads at once
 *    (it is read-only after open).  A quire_writer is used by one thread at a
 *    time.  There is no global mutable state.
 */
#ifndef QUIRE_H
#define QUIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The shared library's soname (libquire.so.N) changes whenever a public
 * struct changes size: 1 since quire_writer_options.contentless, which a
 * program built against 0.1's header would not have set. */
#define QUIRE_VERSION_STRING "0.2.0"

#if defined(QUIRE_BUILDING) && defined(__GNUC__)
#define QUIRE_API __attribute__((visibility("default")))
#else
#define QUIRE_API
#endif

/* Status codes. */
enum {
    QUIRE_OK = 0,
    QUIRE_EARG = 1,       /* invalid argument from the caller */
    QUIRE_ENOMEM = 2,     /* allocation failed */
    QUIRE_EIO = 3,        /* a system call failed (errno text in message) */
    QUIRE_ECORRUPT = 4,   /* checksum mismatch, truncated or malformed file */
    QUIRE_EVERSION = 5,   /* index written by an unsupported format version */
    QUIRE_ENOTFOUND = 6,  /* no index at the path, or no such document */
    QUIRE_EQUERY = 7,     /* malformed query; quire_error.column says where */
    QUIRE_EINPUT = 8,     /* malformed input document */
    QUIRE_ELOCKED = 9     /* another writer holds the index */
};

/* Error details.  `column` is the 1-based byte column of a query error, or
 * 0 when the error has no position. */
typedef struct quire_error {
    int code;
    size_t column;
    char message[512];
} quire_error;

/* A static description of a status code ("corrupt index", ...). */
QUIRE_API const char *quire_strerror(int code);

/* ------------------------------------------------------------------------
 * Tokenizer configuration — chosen when an index is created, stored in its
 * MANIFEST and applied identically to queries.  An index cannot be searched
 * with another configuration than the one it was built with.
 * ---------------------------------------------------------------------- */
enum {
    QUIRE_TOK_FOLD_DIACRITICS = 1u << 0, /* Café = cafe (default on) */
    QUIRE_TOK_STEM_EN = 1u << 1,         /* Snowball English stemming */
    QUIRE_TOK_STOPWORDS_EN = 1u << 2,    /* drop English stop words, keep gaps */
    QUIRE_TOK_COMMONGRAMS = 1u << 3,    /* also index bigrams of adjacent
                                            words where one is a common word:
                                            every phrase with a common word
                                            gets much faster, results stay
                                            the same; default off, as it
                                            about doubles postings and
                                            positions */
    QUIRE_TOK_COMMONPAIRS = 1u << 4,     /* also index bigrams of adjacent
                                            words where both are among the
                                            12 most common ("of the", "to
                                            be"): the slowest phrases get as
                                            fast as a term, for about 3.5%
                                            more postings and positions;
                                            default on.  COMMONGRAMS
                                            includes it. */
    QUIRE_TOK_TITLE_TERMS = 1u << 5      /* also index each title word as a
                                            title term, so that title:word
                                            finds the documents with the
                                            word in their title; default
                                            off (it adds the titles' words
                                            to the postings again) */
};
#define QUIRE_TOK_DEFAULT (QUIRE_TOK_FOLD_DIACRITICS | QUIRE_TOK_COMMONPAIRS)

/* ------------------------------------------------------------------------
 * Writing
 * ---------------------------------------------------------------------- */
typedef struct quire_writer quire_writer;

typedef struct quire_writer_options {
    size_t mem_budget;      /* bytes of memory the build may take: past it a
                               segment is flushed; 0 = default (256 MiB).
                               Builders keep at least half of it, so the
                               ids of a very large session, the buffers
                               and the queues beyond the other half
                               exceed it */
    uint32_t tok_flags;     /* QUIRE_TOK_*; used only when the index is
                               created, otherwise the stored flags apply */
    uint32_t threads;       /* 0 or 1: build in the calling thread, and doc
                               numbers follow insertion order.  N > 1: N
                               builder threads, each with 1/N of the memory
                               budget; documents are dealt to them in batches,
                               so doc numbers follow batches, not insertion
                               (the same on every run of the same input);
                               a merge copies the stored documents in a
                               thread of its own beside the postings. */
    uint32_t contentless;   /* 1: store each added document's id but not
                               its title, body or fields, as in FTS5's
                               contentless tables or Lucene's unstored
                               fields, for callers that keep the text
                               elsewhere.  The build skips compressing the
                               text (a quarter to a third of a one-thread
                               build) and the index is smaller; searches
                               and scores are the same.  quire_doc_get
                               then gives the id alone, and quire_snippet
                               an empty excerpt.  It applies to the
                               documents this writer adds; others keep
                               what they have. */
    uint32_t lock_wait_ms;  /* while another writer has the index open:
                               0 = fail at once with QUIRE_ELOCKED; N = wait
                               up to N ms for it to close, then fail;
                               QUIRE_WAIT_FOREVER = wait as long as it
                               takes.  Readers never wait: they see the
                               last commit. */
} quire_writer_options;
#define QUIRE_WAIT_FOREVER UINT32_MAX

/* A stored field beyond id, title and body.  Stored, not searched. */
typedef struct quire_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} quire_field;

typedef struct quire_doc_input {
    const char *id;     size_t id_len;     /* external id, unique per index */
    const char *title;  size_t title_len;  /* searchable; may be empty */
    const char *body;   size_t body_len;   /* searchable; may be empty */
    const quire_field *fields; size_t nfields;
} quire_doc_input;

/* Opens DIR for writing, creating the directory and an empty index if there
 * is none.  Documents added are invisible to readers until commit. `opt` may
 * be NULL for defaults.  Fails with QUIRE_ELOCKED if another writer is open
 * on the same directory, in this process or another, and is still open
 * after opt->lock_wait_ms. */
QUIRE_API int quire_writer_open(const char *dir, const quire_writer_options *opt,
                      quire_writer **out, quire_error *err);

/* Adds one document.  If a document with the same id already exists (earlier
 * in this session or in the committed index), the new one replaces it and
 * *replaced (when not NULL) is set to 1.  Ids must be shorter than 16 MiB,
 * and one writer (from open to free) takes at most 2^32 - 1 documents: a
 * document beyond either is refused with QUIRE_EARG, and the writer stays
 * usable. */
QUIRE_API int quire_writer_add(quire_writer *w, const quire_doc_input *doc,
                     int *replaced, quire_error *err);

/* Deletes the document with this id: the one added last in this session,
 * or the committed one.  Like an add, it takes effect at the next commit;
 * the document's postings stay in their segment, skipped by every search,
 * until a merge leaves them out.  Adding the id again afterwards adds a new
 * document (which replaces nothing).  *deleted (when not NULL) says
 * whether there was such a document.  An empty id is QUIRE_EARG. */
QUIRE_API int quire_writer_delete(quire_writer *w, const char *id, size_t id_len,
                                  int *deleted, quire_error *err);

/* Flushes buffered documents and atomically publishes a new generation:
 * segment files and deletion files are written and fsynced, then the
 * MANIFEST is replaced by rename.  A crash at any point leaves the previous
 * generation intact.  A commit that added one segment then merges runs of
 * ten small segments of one size class into one, each merge published the
 * same way (segments of 64 MiB or more are left to quire_writer_optimize);
 * if such a merge fails, the documents stay committed and the error says
 * so. */
QUIRE_API int quire_writer_commit(quire_writer *w, quire_error *err);

/* Commits, then merges every segment of the index into one, leaving out
 * deleted documents (documents keep their order), and commits that: the
 * equivalent of Lucene's forceMerge(1).  Searches then read one posting list
 * per term.  Costs about one more pass over the index. */
QUIRE_API int quire_writer_optimize(quire_writer *w, quire_error *err);

/* Progress counters of a writer: documents added and input bytes seen. */
QUIRE_API void quire_writer_progress(const quire_writer *w, uint64_t *docs,
                           uint64_t *bytes);

/* Releases the writer.  Uncommitted documents are discarded and any segment
 * files written for them are removed. */
QUIRE_API void quire_writer_free(quire_writer *w);

/* ------------------------------------------------------------------------
 * Reading and searching
 * ---------------------------------------------------------------------- */
typedef struct quire_index quire_index;

/* Opens the committed generation of the index at DIR.  The checksum of
 * every section of every segment is verified before the section is read:
 * at open, but for the positions (checked by the first query that reads
 * them: a phrase) and the document store, whose compressed blocks each
 * carry a checksum checked when read.  A mismatch fails with
 * QUIRE_ECORRUPT naming the file and section (at open) or the segment
 * (the query that met it); so does a file the MANIFEST names that is
 * missing (QUIRE_ENOTFOUND is for no index at all).  Any number of
 * threads may share the index. */
QUIRE_API int quire_index_open(const char *dir, quire_index **out, quire_error *err);
QUIRE_API void quire_index_close(quire_index *ix);

typedef struct quire_hit {
    uint64_t doc;      /* index-wide document number (for quire_doc_get) */
    double score;      /* BM25; 0 when not scored */
} quire_hit;

typedef struct quire_results quire_results;

/* Top-k by BM25 (k1 = 1.2, b = 0.75, statistics over the whole index).
 * Ties are broken by ascending document number.  The query language:
 *   words (implicit AND), "phrases", "phrases"~N, word^B, AND, OR, NOT, -word, ( ), prefix*,
 *   fuzzy~1 (docs/QUERY.md).  */
QUIRE_API int quire_search(quire_index *ix, const char *query, size_t query_len,
                 size_t k, quire_results **out, quire_error *err);

/* Top-k by a number instead of BM25: the matching documents with the
 * highest (descending != 0) or lowest value of stored field `field`
 * (NUL-terminated).  A field's value counts as a number when it reads as
 * a decimal number ("1851", "-2.5", "1e3") or an ISO 8601 date or
 * date-time ("2016-06-09", "2016-06-09T18:30:00Z", "... 18:30+02:00"),
 * which is seconds since 1970-01-01T00:00:00Z (UTC unless an offset is
 * given); the index keeps such numbers in columns as documents are added,
 * contentless ones too (for at most 256 field names a segment: the first
 * it meets; docs/FORMAT.md).  Ties, and the documents without a number in the
 * field, which come last in either order, are ordered by ascending
 * document number.  No BM25 is computed: each hit's score is its value,
 * NaN for a document without one.  Indexes written before format version
 * 3 have no columns: every document is without a value until they are
 * rebuilt (quire_rebuild). */
QUIRE_API int quire_search_sorted(quire_index *ix, const char *query, size_t query_len,
                                  const char *field, int descending, size_t k,
                                  quire_results **out, quire_error *err);

/* doc's number in stored field `field` (as quire_search_sorted reads it);
 * QUIRE_ENOTFOUND when it has none, or there is no such document. */
QUIRE_API int quire_doc_value(quire_index *ix, uint64_t doc, const char *field, double *value,
                              quire_error *err);

/* A field with numbers (quire_search_sorted): its name (not
 * NUL-terminated), how many live documents have a number in it, and the
 * least and greatest of those numbers. */
typedef struct quire_field_info {
    const char *name;
    size_t name_len;
    uint64_t docs;
    double min, max;
} quire_field_info;
typedef int (*quire_field_fn)(void *ctx, const quire_field_info *field);

/* Calls `fn` once for each field that has numbers in a live document,
 * ascending by name (bytewise); `fn` returning nonzero stops the walk.
 * It reads every column whole: a tool's call, not a query's. */
QUIRE_API int quire_index_fields(quire_index *ix, quire_field_fn fn, void *ctx,
                                 quire_error *err);

/* Exact number of matching (live) documents, without scoring. */
QUIRE_API int quire_count(quire_index *ix, const char *query, size_t query_len,
                uint64_t *count, quire_error *err);

/* Options of quire_search_ex and quire_count_ex.  All zero (as
 * `quire_search_options o = {0}`) is quire_search and quire_count. */
typedef struct quire_search_options {
    const char *sort_field; /* NULL: by BM25; else by this field's number, as
                               quire_search_sorted (NUL-terminated) */
    int descending;         /* with sort_field: highest first */
    double time_limit;      /* seconds from the call; 0: none.  Once it has
                               passed, the search stops where it is and returns
                               what it has: the best of the documents it
                               looked at, or how many of those match, flagged
                               partial.  The clock is read every few hundred
                               documents, before each segment and as a
                               prefix* or fuzzy~ word is expanded, so a
                               long step between two reads (a range's scan
                               of its column to its next match) can run
                               past it (docs/QUERY.md, "Time limits"). */
} quire_search_options;

/* quire_search, or quire_search_sorted, with options (NULL: none). */
QUIRE_API int quire_search_ex(quire_index *ix, const char *query, size_t query_len, size_t k,
                              const quire_search_options *opt, quire_results **out,
                              quire_error *err);

/* 1 when the search stopped at its time limit (quire_search_options): the
 * hits are the best of the documents it looked at, not of all; else 0. */
QUIRE_API int quire_results_partial(const quire_results *r);

/* quire_count with options (sort_field is not used; NULL: none).
 * *partial (may be NULL) is 1 when the count stopped at its time limit,
 * and is then a lower bound: the matches among the documents looked at. */
QUIRE_API int quire_count_ex(quire_index *ix, const char *query, size_t query_len,
                             const quire_search_options *opt, uint64_t *count, int *partial,
                             quire_error *err);

/* "Did you mean": the query with each word that is in no document replaced
 * by the index's most frequent term within one edit (words of 3 to 5
 * characters) or two (longer), the nearer first; offered only when the
 * query so corrected matches a document.  Excluded words, prefix* and
 * fuzzy~ words are left alone; the replacement is the term as indexed
 * (folded, and stemmed in a stemmed index).  Replaced words are wrapped in
 * open/close ("" for none).  *replaced is the number of words replaced, 0
 * when there is no suggestion (buf is then empty; always for a query that
 * holds a NUL byte).  buf is NUL-terminated, truncated to cap.  A
 * malformed query fails as quire_search does. */
QUIRE_API int quire_suggest(quire_index *ix, const char *query, size_t query_len,
                            const char *open, const char *close, char *buf, size_t cap,
                            size_t *replaced, quire_error *err);

QUIRE_API size_t quire_results_size(const quire_results *r);
QUIRE_API const quire_hit *quire_results_get(const quire_results *r, size_t i);
QUIRE_API void quire_results_free(quire_results *r);

/* A stored document.  Field values point into the document handle and live
 * until quire_doc_free. */
typedef struct quire_doc quire_doc;
QUIRE_API int quire_doc_get(quire_index *ix, uint64_t doc, quire_doc **out,
                  quire_error *err);
/* The document number of the live document with this id, for
 * quire_doc_get; QUIRE_ENOTFOUND when there is none (never added,
 * deleted, or only in uncommitted sessions). */
QUIRE_API int quire_doc_find(quire_index *ix, const char *id, size_t id_len, uint64_t *doc,
                             quire_error *err);
/* Looks a field up by name ("id", "title", "body" or any extra field). */
QUIRE_API int quire_doc_field(const quire_doc *d, const char *name, const char **value,
                    size_t *len);
QUIRE_API size_t quire_doc_nfields(const quire_doc *d);
QUIRE_API void quire_doc_field_at(const quire_doc *d, size_t i, const char **name,
                        size_t *name_len, const char **value, size_t *len);
QUIRE_API void quire_doc_free(quire_doc *d);

/* A short plain-text excerpt of `doc`'s body (or title) around the first
 * match of `query`, with matches wrapped in `open`/`close` markers.  The
 * result is NUL-terminated in `buf` (truncated to `cap`). Returns QUIRE_OK
 * even when nothing matched (then the excerpt is the start of the body). */
QUIRE_API int quire_snippet(quire_index *ix, uint64_t doc, const char *query,
                  size_t query_len, const char *open, const char *close,
                  size_t max_bytes, char *buf, size_t cap, quire_error *err);

/* A byte range [start, end) of a stored field's value. */
typedef struct quire_span {
    size_t start, end;
} quire_span;

/* Where `query` matches the stored field `field` ("title", "body" or any
 * extra field) of `doc`: the byte spans quire_snippet marks (a word a
 * term, prefix or fuzzy word matches on its own; each occurrence of a
 * phrase whole; nothing under NOT), ascending and disjoint, offsets into
 * the field's value as quire_doc_field gives it.  The first `cap` go to
 * spans; *n is how many there are.  A field the document does not keep
 * (any but the id in a contentless index) is QUIRE_ENOTFOUND. */
QUIRE_API int quire_highlight(quire_index *ix, uint64_t doc, const char *query,
                              size_t query_len, const char *field, quire_span *spans,
                              size_t cap, size_t *n, quire_error *err);

/* ------------------------------------------------------------------------
 * Statistics and verification
 * ---------------------------------------------------------------------- */
typedef struct quire_stats {
    uint64_t generation;
    uint32_t segments;
    uint32_t tok_flags;
    uint64_t docs;            /* live documents */
    uint64_t deleted_docs;
    uint64_t terms;           /* distinct terms, summed over segments */
    uint64_t postings;        /* (term, doc) pairs */
    uint64_t positions;       /* term occurrences */
    uint64_t bytes_dict, bytes_docs, bytes_skip, bytes_pos, bytes_norms,
             bytes_store, bytes_ids, bytes_other;
    uint64_t bytes_total;
} quire_stats;

QUIRE_API int quire_index_stats(quire_index *ix, quire_stats *out, quire_error *err);

/* Full verification of the index at DIR: every checksum, every posting list
 * and position list decodes, doc ids strictly increase, every dictionary
 * block decodes in order.  `report` (may be NULL) receives one line per
 * problem found.  Returns QUIRE_OK only if everything holds. */
typedef void (*quire_report_fn)(void *ctx, const char *line);
QUIRE_API int quire_verify(const char *dir, quire_report_fn report, void *ctx,
                 quire_error *err);

/* ------------------------------------------------------------------------
 * Rebuilding from the stored documents
 * ---------------------------------------------------------------------- */
typedef struct quire_rebuild_options {
    quire_writer_options writer;  /* threads, mem_budget and lock_wait_ms as
                                     for quire_writer_open; contentless must
                                     be 0 */
    uint32_t set_tok_flags;       /* 1: writer.tok_flags becomes the index's
                                     tokenizer configuration; 0: it keeps
                                     its own */
    uint32_t salvage;             /* 1: publish what can be read of a
                                     damaged index (below) */
} quire_rebuild_options;

typedef struct quire_rebuild_stats {
    uint64_t docs;        /* documents indexed again */
    uint64_t lost;        /* live documents that could not be read back */
    uint32_t segments;    /* segment files read */
    uint32_t damaged;     /* of them, files with any damage (reported) */
    uint32_t tok_flags;   /* the configuration of the rebuilt index */
} quire_rebuild_stats;

/* Indexes every live stored document of the index at DIR again, in order,
 * and publishes the result as a new generation that replaces the old one,
 * atomically like a commit (the old files are removed once it is
 * published; a crash before leaves the old generation), then merges it
 * into one segment as quire_writer_optimize does.  For changing the
 * tokenizer configuration without the original input, and for repairing a
 * damaged index: only stored documents are read, each segment's as far as
 * it can be.  A file whose postings, dictionary or section table are
 * damaged still gives every document whose compressed block is intact
 * (zstd's checksums say which); a damaged block loses its documents
 * alone.  With an unreadable or missing MANIFEST the segment files in DIR are
 * read, with their newest deletion files.  Each problem is one line to
 * `report` (may be NULL).  If a live document cannot be read back, a
 * deletion file cannot be read, or the MANIFEST could not, it fails with
 * QUIRE_ECORRUPT and changes nothing, unless opt->salvage: then what could
 * be read is published.  Documents added contentless cannot be indexed
 * again: QUIRE_EARG, nothing changed.  `opt` and `out` may be NULL. */
QUIRE_API int quire_rebuild(const char *dir, const quire_rebuild_options *opt,
                            quire_report_fn report, void *ctx, quire_rebuild_stats *out,
                            quire_error *err);

/* ------------------------------------------------------------------------
 * Tokenizer access, for tools and tests: calls `emit` once per term of
 * `text` as the index would see it.  `term` is valid only during the call.
 * ---------------------------------------------------------------------- */
typedef int (*quire_token_fn)(void *ctx, const char *term, size_t term_len,
                              uint32_t position, size_t byte_start,
                              size_t byte_end);
QUIRE_API int quire_tokenize(uint32_t tok_flags, const char *text, size_t len,
                   quire_token_fn emit, void *ctx, quire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* QUIRE_H */
