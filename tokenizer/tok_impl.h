/*
 * tok_impl.h — the tokenizer object and the functions shared between
 * tokenizer.c (scanning: runs, CJK, URLs, editorial marks) and tok_words.c
 * (turning the atoms of a chunk into words, numbers and compounds).
 * Internal to tokenizer/.
 */
#ifndef QUIRE_TOK_IMPL_H
#define QUIRE_TOK_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"

struct sb_stemmer;

/* Folded text kept per run: longer runs cannot yield longer terms. */
#define TOK_RUN_CAP (TOK_MAX_TERM_BYTES + 1)
/* Longest fold of one code point in the table (bytes), with margin. */
#define TOK_MAX_FOLD 64
/* Bytes of one run given to utf8proc on the slow path. */
#define TOK_SLOW_INPUT 1024
/* Folded bytes kept per CJK character (with its marks). */
#define TOK_CJK_FOLD 64

enum { TOK_A_RUN = 0, TOK_A_CONN = 1 };

/* One atom of a chunk: a run of letters/digits/marks, or one connector. */
typedef struct tok_atom {
    uint8_t kind;
    uint8_t ch;        /* connector as ASCII ('\'' for ’ too) */
    uint8_t letters;   /* run has letters */
    uint8_t digits;    /* run has digits */
    uint32_t ncp;      /* run: code points of the folded text, marks
                          included (see run_close) */
    uint32_t off, len; /* run: folded text in tok_tokenizer.buf */
    size_t start, end; /* byte span in the input */
} tok_atom;

/* A word inside a chunk, with the connector that joined it to the one
 * before (0 for the first). */
typedef struct tok_leaf {
    uint32_t off, len; /* text in tok_tokenizer.leafbuf */
    size_t start, end;
    char sep;
} tok_leaf;

typedef struct tok_cjk_char {
    size_t start, end;
    uint32_t len;
    int slow;
    char fold[TOK_CJK_FOLD];
} tok_cjk_char;

/* A window of the fast scanner (tok_fast.c): 64 bytes as bit masks, bit i
 * for byte i.  `low` is every byte OR 0x20, which lower-cases ASCII
 * letters and leaves digits alone; it has slack for 16-byte copies. */
#define TOK_WIN 64
typedef struct tok_block {
    uint64_t alnum; /* ASCII letter or digit */
    uint64_t plain; /* ASCII byte of class TC_SEP (this includes '(') */
    uint64_t high;  /* byte >= 0x80 */
    uint64_t brk;   /* '(' or '[', which may open "(s)" or "[sic]", and
                       '+', which the AVX2 tables give with them: a word
                       before one is left to the dispatch (ascii_end) */
    unsigned char low[TOK_WIN + 16];
} tok_block;
typedef void (*tok_classify_fn)(const unsigned char *w, tok_block *b);
enum { TOK_SIMD_BEST = 0, TOK_SIMD_SCALAR = 1, TOK_SIMD_SSE2 = 2, TOK_SIMD_AVX2 = 3,
       TOK_SIMD_AVX512 = 4 };
struct tok_tokenizer;
typedef size_t (*tok_scan_fn)(struct tok_tokenizer *t, size_t i, int *rc);

/* Kinds of emitted terms, for the optional stages. */
enum { TOK_K_WORD = 1, TOK_K_STEM = 2, TOK_K_CJK = 4 };

struct tok_tokenizer {
    uint32_t flags;
    int mode;
    int diacritics;
    int fast; /* shortcuts for plain words on (tok_set_fast_paths) */
    tok_classify_fn classify; /* the fast scanner's, chosen for the CPU */
    tok_scan_fn scan;         /* the fast scanner built for it (tok_scanner) */
    struct sb_stemmer *stemmer;

    /* The current tok_run. */
    const char *text;
    size_t len;
    uint32_t pos;
    tok_emit_fn emit;
    void *ctx;
    int stop;
    /* tok_run_batch: the batch being filled (NULL in tok_run, where
     * terms go to emit), its consumer, and emit is tok_batch_put */
    tok_batch *batch;
    tok_batch_fn batch_fn;
    void *batch_ctx;
    tok_batch *batch_mem; /* allocated at the first tok_run_batch */

    /* Folded text of the runs of the current chunk. */
    char *buf;
    size_t buflen, bufcap;

    /* The open run. */
    int run_open, run_slow, prev_nzccc;
    uint8_t run_letters, run_digits;
    size_t run_start, run_off;

    /* Atoms of the current chunk. */
    tok_atom *atoms;
    size_t natoms, cap_atoms;

    /* Words of the chunk being emitted. */
    tok_leaf *leaves;
    size_t nleaves, cap_leaves;
    char *leafbuf;
    size_t leaflen, leafcap;

    /* The last two characters of a CJK run, and how many it had. */
    tok_cjk_char cjk[2];
    size_t cjk_count;
};

/* ---- UTF-8 and folding helpers (hot, so inline) ---- */

/* Decodes one code point at p (< e).  Invalid or truncated sequences,
 * overlongs and surrogates decode as U+FFFD consuming one byte, so the
 * next byte is looked at afresh. */
static inline size_t tok_decode(const unsigned char *p, const unsigned char *e,
                            uint32_t *cp)
{
    unsigned c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xc2 || c > 0xf4) goto bad;
    if (c < 0xe0) {
        if (e - p < 2 || (p[1] & 0xc0) != 0x80) goto bad;
        *cp = ((c & 0x1fu) << 6) | (p[1] & 0x3fu);
        return 2;
    }
    if (c < 0xf0) {
        if (e - p < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            goto bad;
        uint32_t v = ((c & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
        if (v < 0x800 || (v >= 0xd800 && v <= 0xdfff)) goto bad;
        *cp = v;
        return 3;
    }
    if (e - p < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
        (p[3] & 0xc0) != 0x80)
        goto bad;
    uint32_t v = ((c & 0x07u) << 18) | ((p[1] & 0x3fu) << 12) |
                 ((p[2] & 0x3fu) << 6) | (p[3] & 0x3fu);
    if (v < 0x10000 || v > 0x10ffff) goto bad;
    *cp = v;
    return 4;
bad:
    *cp = 0xfffd;
    return 1;
}

static inline size_t tok_encode(uint32_t c, char *o)
{
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* Appends the fold of code point cp (table entry e, original bytes src of
 * length n) at o; returns the bytes written (at most TOK_MAX_FOLD). */
static inline size_t tok_put_fold(uint32_t e, uint32_t cp, const unsigned char *src,
                              size_t n, char *o)
{
    switch (TF_KIND(e)) {
    case FK_SAME:
        /* n is 1 to 4; byte stores beat a variable-length memcpy. */
        o[0] = (char)src[0];
        if (n > 1) o[1] = (char)src[1];
        if (n > 2) o[2] = (char)src[2];
        if (n > 3) o[3] = (char)src[3];
        return n;
    case FK_DELTA: return tok_encode((uint32_t)((int32_t)cp + TF_DELTA(e)), o);
    case FK_POOL:
        memcpy(o, tok_fold_pool + TF_POOL_OFF(e), TF_POOL_LEN(e));
        return TF_POOL_LEN(e);
    default: return 0;
    }
}

int tok_reserve(char **buf, size_t *cap, size_t need);
size_t tok_cut(const char *s, size_t n);
long tok_fold_slow(const tok_tokenizer *t, const char *src, size_t n,
                   char *out, size_t cap);
/* The same fold for text that is already folded piece by piece but whose
 * pieces were joined (a compound's whole): it composes across the joints
 * and keeps punctuation.  Never longer than src. */
long tok_refold(const tok_tokenizer *t, const char *src, size_t n, char *out,
                size_t cap);
/* The character at s (of n > 0 bytes) may combine with the one before it:
 * it can compose with it or must be reordered before it (TF_COMPSECOND,
 * TF_NZCCC), so text ending before s joined to text starting at s may not
 * be NFKC although both are. */
static inline int tok_combines(const tok_tokenizer *t, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (p[0] < 0x80) return 0; /* no ASCII character composes as a second */
    uint32_t cp;
    tok_decode(p, p + n, &cp);
    return (tok_fold_entry(t->diacritics, cp) & (TF_COMPSECOND | TF_NZCCC)) != 0;
}
int tok_emit(tok_tokenizer *t, const char *s, size_t n, size_t start,
             size_t end, uint32_t pos, int kind);

/* Whether index mode emits a whole (of a compound, a URL, a handle, a tag
 * or an e-mail address): only if it holds no '.', ':', '@' or '#'.  Query
 * mode splits a word that holds one into its parts (v1.2 is "v1 2",
 * jane.doe@example.com "jane doe example com", @wikileaks "wikileaks"),
 * so a whole that keeps one is a term no query asks for: the phrase of
 * the parts finds the text.  Indexed, such wholes (URLs above all) were
 * a quarter of the dictionary of corpus/cache/mail.jsonl, terms nearly
 * all seen once: without them 89,137 terms instead of 103,789, the
 * dictionary 1.04 MB instead of 1.38, postings, positions and dictionary
 * 7.8% smaller.  A joined word's whole (thencandidate, abc12345) is still
 * emitted: a query word finds it. */
static inline int tok_whole_wanted(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.' || c == ':' || c == '@' || c == '#') return 0;
    }
    return 1;
}

/* Emits a word of the scanners' hot paths at the next position: straight
 * to the callback when `plain` (no optional stage applies and the word is
 * not too long), else through tok_emit. */
static inline int tok_emit_word(tok_tokenizer *t, const char *term, size_t n,
                                size_t start, size_t end, int plain)
{
    if (!plain)
        return tok_emit(t, term, n, start, end, t->pos++, TOK_K_WORD | TOK_K_STEM);
    tok_token tk = {.term = term, .len = (uint32_t)n, .pos = t->pos++,
                    .start = start, .end = end};
    int rc = t->emit(t->ctx, &tk);
    if (rc) t->stop = rc;
    return rc;
}
/* tokenizer.c: hands the batch to its consumer and empties it. */
int tok_batch_flush(tok_tokenizer *t);
/* Adds a term to the batch of tok_run_batch, handing it over when full.
 * The scanner's tight loop adds its words itself (tok_fast.c); every
 * other term gets here through t->emit. */
static inline int tok_batch_add(tok_tokenizer *t, tok_batch *b, const char *term,
                                uint32_t len, uint32_t pos)
{
    uint32_t n = b->n, at = b->used;
    memcpy(b->bytes + at, term, len);
    b->off[n] = at;
    b->len[n] = len;
    b->pos[n] = pos;
    b->n = n + 1;
    b->used = at + len;
    if (b->n == TOK_BATCH_MAX || b->used > TOK_BATCH_FULL) return tok_batch_flush(t);
    return 0;
}

/* Turns the plain-word shortcuts (the fast scanner and the early emission
 * of a word before a separator) off, so every word takes the general path.
 * For tests: both settings must give the same stream. */
void tok_set_fast_paths(tok_tokenizer *t, int on);
/* tok_fast.c.  tok_classifier returns the classifier of that kind, NULL if
 * the CPU or the build lacks it; all give the same blocks. */
tok_classify_fn tok_classifier(int which);
void tok_classify_scalar(const unsigned char *w, tok_block *b);
/* The build of the fast scanner that goes with a classifier: chosen once
 * per tokenizer, not per field. */
tok_scan_fn tok_scanner(tok_classify_fn classify);
static inline size_t tok_fast_scan(tok_tokenizer *t, size_t i, int *rc)
{
    return t->scan(t, i, rc);
}
/* For tests: the fast scanner with another classifier (TOK_SIMD_*);
 * returns -1 if there is none of that kind here. */
int tok_set_simd(tok_tokenizer *t, int which);
/* tokenizer.c: the end of the editorial mark opened by s[at] == '[', or 0. */
size_t tok_editorial_end(const char *s, size_t at, size_t len);
/* tok_words.c */
int tok_words(tok_tokenizer *t);
int tok_url(tok_tokenizer *t, size_t start, size_t end);

#endif
