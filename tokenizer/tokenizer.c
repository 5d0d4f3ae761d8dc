/*
 * tokenizer.c — the word-breaking state machine behind tokenizer.h.
 *
 * One pass over the bytes.  ASCII letters and digits are classified and
 * lower-cased by a 128-entry table without decoding; other characters are
 * decoded and looked up in the generated folding table (fold_table.c), which
 * gives their class and folded form, so utf8proc is only called for the rare
 * word that needs real composition (decomposed accents, Hangul jamo).
 *
 * Letters, digits and marks form "runs".  A run followed by a space is the
 * common case and is emitted at once.  Runs joined by connector characters
 * (' - _ / . : , @ #) are collected as the "atoms" of a chunk, which
 * tok_words.c turns into terms (abbreviations, numbers, compounds, handles,
 * e-mail addresses).  URLs, CJK bigrams and editorial insertions like [sic]
 * are handled here.  The rules are documented in docs/TOKENIZER.md.
 */
#include "tokenizer/tokenizer.h"
#include "tokenizer/tok_impl.h"

#include <stdlib.h>
#include <string.h>

#include <libstemmer.h>
#include <utf8proc.h>

/* Class of each ASCII byte; see tok_internal.h.  Kept apart from the big
 * table so the ASCII path is one small, cache-resident lookup. */
#define L TC_LETTER
#define D TC_DIGIT
static const uint8_t ascii_class[128] = {
    ['a'] = L, ['b'] = L, ['c'] = L, ['d'] = L, ['e'] = L, ['f'] = L,
    ['g'] = L, ['h'] = L, ['i'] = L, ['j'] = L, ['k'] = L, ['l'] = L,
    ['m'] = L, ['n'] = L, ['o'] = L, ['p'] = L, ['q'] = L, ['r'] = L,
    ['s'] = L, ['t'] = L, ['u'] = L, ['v'] = L, ['w'] = L, ['x'] = L,
    ['y'] = L, ['z'] = L, ['A'] = L, ['B'] = L, ['C'] = L, ['D'] = L,
    ['E'] = L, ['F'] = L, ['G'] = L, ['H'] = L, ['I'] = L, ['J'] = L,
    ['K'] = L, ['L'] = L, ['M'] = L, ['N'] = L, ['O'] = L, ['P'] = L,
    ['Q'] = L, ['R'] = L, ['S'] = L, ['T'] = L, ['U'] = L, ['V'] = L,
    ['W'] = L, ['X'] = L, ['Y'] = L, ['Z'] = L, ['0'] = D, ['1'] = D,
    ['2'] = D, ['3'] = D, ['4'] = D, ['5'] = D, ['6'] = D, ['7'] = D,
    ['8'] = D, ['9'] = D, ['\''] = TC_APOS, ['-'] = TC_HYPHEN,
    ['_'] = TC_UNDERSCORE, ['/'] = TC_SLASH, ['.'] = TC_DOT,
    [':'] = TC_COLON, [','] = TC_COMMA, ['@'] = TC_AT, ['#'] = TC_HASH,
    ['['] = TC_LBRACKET,
};
#undef L
#undef D

/* Lower-cased letter or digit, 0 for anything else: the inner ASCII loop. */
static const char ascii_fold[256] = {
    ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e',
    ['f'] = 'f', ['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j',
    ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n', ['o'] = 'o',
    ['p'] = 'p', ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't',
    ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y',
    ['z'] = 'z', ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3',
    ['4'] = '4', ['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8',
    ['9'] = '9', ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd',
    ['E'] = 'e', ['F'] = 'f', ['G'] = 'g', ['H'] = 'h', ['I'] = 'i',
    ['J'] = 'j', ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n',
    ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r', ['S'] = 's',
    ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x',
    ['Y'] = 'y', ['Z'] = 'z',
};

/* ---------------------------------------------------------------------- */
/* Buffers                                                                */

int tok_reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need) n *= 2;
    char *p = realloc(*buf, n);
    if (!p) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static int push_atom(tok_tokenizer *t, const tok_atom *a)
{
    if (t->natoms == t->cap_atoms) {
        size_t n = t->cap_atoms ? t->cap_atoms * 2 : 64;
        tok_atom *p = realloc(t->atoms, n * sizeof *p);
        if (!p) return -1;
        t->atoms = p;
        t->cap_atoms = n;
    }
    t->atoms[t->natoms++] = *a;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* UTF-8                                                                  */

/* The slow path: real NFKC case fold of src (whole characters of one run)
 * by utf8proc, then the table fold of every resulting character (which
 * strips diacritics from the now composed letters).  Stripping a mark can
 * unblock a composition (Hangul jamo around a stray accent), so the two
 * steps repeat until nothing changes (twice in practice).  Characters of
 * other classes (which NFKC can make: U+0149 gives U+02BC n) are dropped
 * for a run, or with `keep` passed through, for text that holds
 * punctuation on purpose (tok_refold).  Writes at most `cap` bytes, cut at
 * a character boundary.  Returns the length or -1 on allocation failure. */
static long fold_slow(const tok_tokenizer *t, const char *src, size_t n,
                      char *out, size_t cap, int keep)
{
    const utf8proc_uint8_t *in = (const utf8proc_uint8_t *)src;
    utf8proc_ssize_t inlen = (utf8proc_ssize_t)n;
    char *prev = NULL, *f = NULL;
    size_t flen = 0;
    for (int round = 0; round < 4; round++) {
        utf8proc_uint8_t *m = NULL;
        utf8proc_ssize_t r = utf8proc_map(
            in, inlen, &m,
            UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
        if (r < 0) {
            free(prev);
            return -1;
        }
        /* The table fold of NFKC_Casefold text never grows it. */
        f = malloc((size_t)r + TOK_MAX_FOLD);
        if (!f) {
            free(m);
            free(prev);
            return -1;
        }
        flen = 0;
        const unsigned char *p = m, *e = m + r;
        while (p < e) {
            uint32_t cp;
            size_t k = tok_decode(p, e, &cp);
            uint32_t en = tok_fold_entry(t->diacritics, cp);
            unsigned cls = TF_CLASS(en);
            if (cls == TC_LETTER || cls == TC_DIGIT || cls == TC_MARK || cls == TC_CJK)
                flen += tok_put_fold(en, cp, p, k, f + flen);
            else if (keep) {
                memcpy(f + flen, p, k);
                flen += k;
            }
            p += k;
        }
        int same = flen == (size_t)r && memcmp(f, m, flen) == 0;
        free(m);
        free(prev);
        prev = f;
        if (same) break;
        in = (const utf8proc_uint8_t *)f;
        inlen = (utf8proc_ssize_t)flen;
    }
    size_t len = flen < cap ? flen : cap;
    if (len < flen)
        while (len > 0 && ((unsigned char)f[len] & 0xc0) == 0x80) len--;
    memcpy(out, f, len);
    free(f);
    return (long)len;
}

long tok_fold_slow(const tok_tokenizer *t, const char *src, size_t n,
                   char *out, size_t cap)
{
    return fold_slow(t, src, n, out, cap, 0);
}

long tok_refold(const tok_tokenizer *t, const char *src, size_t n, char *out,
                size_t cap)
{
    return fold_slow(t, src, n, out, cap, 1);
}

/* ---------------------------------------------------------------------- */
/* Emission                                                               */

/* English stop words (the classic Lucene/Snowball core list): function
 * words with no search value of their own.  Sorted for bsearch. */
static const char *const stopwords[] = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if",
    "in", "into", "is", "it", "no", "not", "of", "on", "or", "such", "that",
    "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with",
};

static int is_stopword(const char *s, size_t n)
{
    if (n > 5) return 0;
    size_t lo = 0, hi = sizeof stopwords / sizeof stopwords[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *w = stopwords[mid];
        size_t wl = strlen(w);
        int c = memcmp(s, w, n < wl ? n : wl);
        if (c == 0) c = (n > wl) - (n < wl);
        if (c == 0) return 1;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return 0;
}

size_t tok_cut(const char *s, size_t n)
{
    if (n <= TOK_MAX_TERM_BYTES) return n;
    n = TOK_MAX_TERM_BYTES;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
    return n;
}

/* Emits one term.  `kind` says which optional stages apply: a word (leaf)
 * may be a stop word and is stemmed; a whole is stemmed only if it is made
 * of letters; numbers, handles, URLs and CJK are never stemmed. */
int tok_emit(tok_tokenizer *t, const char *s, size_t n, size_t start,
             size_t end, uint32_t pos, int kind)
{
    n = tok_cut(s, n);
    if (n == 0) return 0;
    if ((kind & TOK_K_WORD) && (t->flags & TOK_STOPWORDS_EN) &&
        is_stopword(s, n))
        return 0;
    if ((kind & TOK_K_STEM) && t->stemmer) {
        int plain = 1;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if ((c >= '0' && c <= '9') || c == '.' || c == ',' || c == ':' ||
                c == '@' || c == '#' || c == '/' || c == '_' || c == '-')
                plain = 0;
        }
        if (plain) {
            const sb_symbol *r = sb_stemmer_stem(t->stemmer,
                                                 (const sb_symbol *)s, (int)n);
            if (!r) return -1;
            int rl = sb_stemmer_length(t->stemmer);
            if (rl > 0) {
                s = (const char *)r;
                n = (size_t)rl;
            }
        }
    }
    tok_token tk = {.term = s, .len = (uint32_t)n, .pos = pos,
                    .start = start, .end = end};
    int rc = t->emit(t->ctx, &tk);
    if (rc) t->stop = rc;
    return rc;
}

/* ---------------------------------------------------------------------- */
/* CJK bigrams                                                            */

/* Emits the bigram of the last two CJK characters (or the unigram when
 * the run had only one). */
static int cjk_emit(tok_tokenizer *t, int unigram)
{
    tok_cjk_char *a = &t->cjk[(t->cjk_count - 2) & 1];
    tok_cjk_char *b = &t->cjk[(t->cjk_count - 1) & 1];
    if (unigram) a = b;
    char out[2 * TOK_CJK_FOLD];
    size_t n;
    if (unigram) {
        if (b->slow) {
            long r = tok_fold_slow(t, t->text + b->start, b->end - b->start,
                                   out, sizeof out);
            if (r < 0) return -1;
            n = (size_t)r;
        } else {
            memcpy(out, b->fold, b->len);
            n = b->len;
        }
    } else if (a->slow || b->slow) {
        /* Characters between a and b are ignorables; fold them away too. */
        long r = tok_fold_slow(t, t->text + a->start, b->end - a->start, out,
                               sizeof out);
        if (r < 0) return -1;
        n = (size_t)r;
    } else {
        memcpy(out, a->fold, a->len);
        memcpy(out + a->len, b->fold, b->len);
        n = a->len + b->len;
    }
    if (n == 0) {
        t->pos++;
        return 0;
    }
    tok_token tk = {.term = out, .len = (uint32_t)n, .pos = t->pos++,
                    .start = a->start, .end = b->end};
    int rc = t->emit(t->ctx, &tk);
    if (rc) t->stop = rc;
    return rc;
}

static int cjk_end(tok_tokenizer *t)
{
    int rc = 0;
    if (t->cjk_count == 1) rc = cjk_emit(t, 1);
    else if (t->cjk_count > 1) rc = cjk_emit(t, 0);
    t->cjk_count = 0;
    return rc;
}

static int cjk_add(tok_tokenizer *t, uint32_t e, uint32_t cp, size_t at,
                   size_t n)
{
    if (t->cjk_count >= 2) {
        int rc = cjk_emit(t, 0);
        if (rc) return rc;
    }
    tok_cjk_char *c = &t->cjk[t->cjk_count & 1];
    t->cjk_count++;
    c->start = at;
    c->end = at + n;
    c->slow = (e & TF_COMPSECOND) != 0;
    c->len = (uint32_t)tok_put_fold(e, cp, (const unsigned char *)t->text + at, n,
                                c->fold);
    return 0;
}

/* A mark after a CJK character belongs to it (e.g. a decomposed voicing
 * mark); it sends the character to the slow path. */
static void cjk_mark(tok_tokenizer *t, uint32_t e, uint32_t cp, size_t at,
                     size_t n)
{
    tok_cjk_char *c = &t->cjk[(t->cjk_count - 1) & 1];
    c->end = at + n;
    c->slow = 1;
    if (c->len + TOK_MAX_FOLD <= TOK_CJK_FOLD)
        c->len += (uint32_t)tok_put_fold(e, cp, (const unsigned char *)t->text + at,
                                     n, c->fold + c->len);
}

/* ---------------------------------------------------------------------- */
/* Runs and chunks                                                        */

/* Closes the open run: applies the slow path if needed and appends it to
 * the atoms of the current chunk. */
static int run_close(tok_tokenizer *t, size_t end)
{
    tok_atom a = {.kind = TOK_A_RUN, .start = t->run_start, .end = end,
                  .off = (uint32_t)t->run_off,
                  .letters = t->run_letters, .digits = t->run_digits};
    t->run_open = 0;
    if (t->run_slow) {
        size_t n = end - t->run_start;
        if (n > TOK_SLOW_INPUT) {
            n = TOK_SLOW_INPUT;
            while (n > 0 && ((unsigned char)t->text[t->run_start + n] & 0xc0) == 0x80)
                n--;
        }
        long r = tok_fold_slow(t, t->text + t->run_start, n,
                               t->buf + t->run_off, TOK_RUN_CAP);
        if (r < 0) return -1;
        t->buflen = t->run_off + (size_t)r;
    }
    a.len = (uint32_t)(t->buflen - t->run_off);
    if (a.len == 0) return 0; /* only marks stripped away: nothing there */
    /* For the number and abbreviation rules (the ASCII loop does not
     * count): ncp is every code point of the folded text, marks that
     * folding kept included, so without TOK_FOLD_DIACRITICS "\u0301t" is
     * two and no single letter; letters and digits are set from the ASCII
     * bytes here, scan_run set them for the others. */
    for (size_t k = t->run_off; k < t->buflen; k++) {
        unsigned char c = (unsigned char)t->buf[k];
        a.ncp += (c & 0xc0) != 0x80;
        if (c >= '0' && c <= '9') a.digits = 1;
        else if (c < 0x80) a.letters = 1;
    }
    return push_atom(t, &a);
}

static int flush_chunk(tok_tokenizer *t)
{
    int rc = 0;
    if (t->natoms == 1 && t->atoms[0].kind == TOK_A_RUN) {
        tok_atom *a = &t->atoms[0];
        rc = tok_emit(t, t->buf + a->off, a->len, a->start, a->end, t->pos++,
                      TOK_K_WORD | TOK_K_STEM);
    } else if (t->natoms > 0) {
        rc = tok_words(t);
    }
    t->natoms = 0;
    t->buflen = 0;
    return rc;
}

static int push_conn(tok_tokenizer *t, unsigned cls, size_t at, size_t n)
{
    static const char conn_char[16] = {
        [TC_APOS] = '\'', [TC_HYPHEN] = '-', [TC_UNDERSCORE] = '_',
        [TC_SLASH] = '/', [TC_DOT] = '.', [TC_COLON] = ':', [TC_COMMA] = ',',
        [TC_AT] = '@', [TC_HASH] = '#',
    };
    if (t->natoms > 0) {
        const tok_atom *last = &t->atoms[t->natoms - 1];
        /* Two connectors in a row break the chunk, except the period
         * before a possessive (Jr.'s), which tok_words needs to see. */
        if (last->kind == TOK_A_CONN &&
            !(last->ch == '.' && cls == TC_APOS && t->natoms >= 2 &&
              t->atoms[t->natoms - 2].kind == TOK_A_RUN)) {
            int rc = flush_chunk(t);
            if (rc) return rc;
        }
    }
    /* A chunk never starts with a connector, except @handle and #tag. */
    if (t->natoms == 0 && cls != TC_AT && cls != TC_HASH) return 0;
    tok_atom a = {.kind = TOK_A_CONN, .ch = conn_char[cls], .start = at,
                  .end = at + n};
    return push_atom(t, &a);
}

/* ---------------------------------------------------------------------- */
/* Editorial insertions and URLs                                          */

static int ieq(const char *a, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        if (c != (unsigned char)lit[i]) return 0;
    }
    return 1;
}

/* If text[at] is '[' opening one of the recognised editorial marks,
 * returns the offset just past its ']', else 0.  The list is short on
 * purpose: brackets with other content ([1], [Trump]) are ordinary text. */
size_t tok_editorial_end(const char *s, size_t at, size_t len)
{
    static const char *const marks[] = {
        "sic", "sic!", "...", "\xe2\x80\xa6", ". . .", "....",
        "emphasis added", "emphasis mine", "emphasis in original",
        "emphasis supplied", "italics added", "italics mine",
    };
    size_t lim = at + 32 < len ? at + 32 : len;
    size_t close = at + 1;
    while (close < lim && s[close] != ']' && s[close] != '[') close++;
    if (close >= lim || s[close] != ']') return 0;
    size_t a = at + 1, b = close;
    while (a < b && s[a] == ' ') a++;
    while (b > a && s[b - 1] == ' ') b--;
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (ieq(s + a, b - a, marks[i])) return close + 1;
    return 0;
}

/* Length of a URL starting at s[at] (which is an ASCII letter at the
 * start of a chunk), or 0.  Recognised: scheme://... for http, https,
 * ftp, ftps, file and www.<letter or digit>... */
static size_t url_len(const char *s, size_t at, size_t len)
{
    static const struct { const char *p; size_t n; } prefixes[] = {
        {"http://", 7}, {"https://", 8}, {"ftp://", 6},
        {"ftps://", 7}, {"file://", 7}, {"www.", 4},
    };
    size_t rest = len - at, plen = 0;
    /* Most words starting with h, f or w are no URL: need ':' or '.'
     * within the first six bytes before comparing prefixes. */
    size_t q = at, qe = rest > 6 ? at + 6 : len;
    while (q < qe && s[q] != ':' && s[q] != '.') q++;
    if (q == qe) return 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t m = prefixes[i].n;
        if (rest > m && ieq(s + at, m, prefixes[i].p)) { plen = m; break; }
    }
    if (!plen) return 0;
    /* What each byte does to a URL: 0 nothing (most), 1 ends it, 2 a
     * bracket to balance, 3 starts a character beyond ASCII.  A table,
     * so the common bytes cost one lookup each. */
    enum { U_IN = 0, U_END = 1, U_BRACKET = 2, U_HIGH = 3 };
    static const uint8_t url_byte[256] = {
        [0 ... 0x20] = U_END, ['"'] = U_END, ['<'] = U_END, ['>'] = U_END,
        ['\\'] = U_END, ['^'] = U_END, ['`'] = U_END, ['{'] = U_END,
        ['|'] = U_END, ['}'] = U_END, [0x7f] = U_END,
        ['('] = U_BRACKET, [')'] = U_BRACKET, ['['] = U_BRACKET, [']'] = U_BRACKET,
        [0x80 ... 0xff] = U_HIGH,
    };
    const unsigned char *const p0 = (const unsigned char *)s + at;
    const unsigned char *p = p0 + plen;
    const unsigned char *e = (const unsigned char *)s + len;
    int depth_paren = 0, depth_brack = 0;
    while (p < e) {
        unsigned c = *p, u = url_byte[c];
        if (u == U_IN) {
            p++;
            continue;
        }
        if (u == U_END) break;
        if (u == U_BRACKET) {
            if (c == '(') depth_paren++;
            if (c == ')' && --depth_paren < 0) break;
            if (c == '[') depth_brack++;
            if (c == ']' && --depth_brack < 0) break;
            p++;
            continue;
        }
        uint32_t cp;
        size_t k = tok_decode(p, e, &cp);
        unsigned cls = TF_CLASS(tok_fold_entry(0, cp));
        if (cls != TC_LETTER && cls != TC_DIGIT && cls != TC_MARK &&
            cls != TC_CJK && cls != TC_IGNORE)
            break;
        p += k;
    }
    size_t n = (size_t)(p - p0);
    /* Sentence punctuation after a URL is not part of it. */
    while (n > plen) {
        char c = s[at + n - 1];
        if (c == '.' || c == ',' || c == ';' || c == ':' || c == '!' ||
            c == '?' || c == '\'')
            n--;
        else
            break;
    }
    /* Need at least one letter or digit after the prefix. */
    for (size_t i = plen; i < n; i++) {
        unsigned char c = (unsigned char)s[at + i];
        if (c >= 0x80 || ascii_fold[c]) return n;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* The main loop                                                          */

static inline int run_open(tok_tokenizer *t, size_t at)
{
    if (tok_reserve(&t->buf, &t->bufcap, t->buflen + TOK_RUN_CAP + TOK_MAX_FOLD))
        return -1;
    t->run_open = 1;
    t->run_start = at;
    t->run_off = t->buflen;
    t->run_letters = t->run_digits = 0;
    t->run_slow = 0;
    t->prev_nzccc = 0;
    return 0;
}


/* "(s)" or "(es)" glued to a word (email(s)) marks an optional plural:
 * it yields no term.  Returns its length at s[i] (a '('), or 0. */
static inline size_t paren_plural(const unsigned char *s, size_t i, size_t len)
{
    if (i + 2 < len && (s[i + 1] | 0x20) == 's' && s[i + 2] == ')') return 3;
    if (i + 3 < len && (s[i + 1] | 0x20) == 'e' && (s[i + 2] | 0x20) == 's' &&
        s[i + 3] == ')')
        return 4;
    return 0;
}

/* What ends a simple word at s[e] (s[e] is not a letter or digit): the
 * number of bytes to consume after the word if the word can be emitted
 * without the chunk rules, or 0.  Simple endings: a separator ("word "),
 * a connector before a separator ("word, ", "word. "), a possessive before
 * a separator ("word's ", "word’s "), an optional plural ("word(s)").
 * Reads at most to s[e + 5] and never at or past `lim`. */
static inline size_t simple_end(const tok_tokenizer *t, const unsigned char *s,
                                size_t e, size_t lim)
{
    unsigned n0 = s[e];
    if (n0 < 0x80) {
        unsigned c0 = ascii_class[n0];
        if (n0 == '(') {
            size_t k = paren_plural(s, e, lim);
            return k ? k : 1;
        }
        if (c0 == TC_SEP) return 1;
        if (c0 < TC_APOS || c0 > TC_HASH) return 0;
        if (e + 1 == lim) return 1; /* a connector ending the text */
        unsigned n1 = s[e + 1];
        if (n1 < 0x80 && ascii_class[n1] == TC_SEP) return 2;
        if (n0 == '\'' && (n1 | 0x20) == 's' && e + 2 < lim && s[e + 2] < 0x80 &&
            ascii_class[s[e + 2]] == TC_SEP) {
            /* The possessive's s still counts as the word: "x's(s)". */
            size_t k = s[e + 2] == '(' ? paren_plural(s, e + 2, lim) : 0;
            return 2 + (k ? k : 1);
        }
        return 0;
    }
    uint32_t cp;
    size_t k = tok_decode(s + e, s + lim, &cp);
    if (cp == 0x2019 && e + 4 < lim && (s[e + 3] | 0x20) == 's' &&
        s[e + 4] < 0x80 && ascii_class[s[e + 4]] == TC_SEP) {
        size_t q = s[e + 4] == '(' ? paren_plural(s, e + 4, lim) : 0;
        return 4 + (q ? q : 1);
    }
    return TF_CLASS(tok_fold_entry(t->diacritics, cp)) == TC_SEP ? k : 0;
}

/* Extends the open run from s[j] over letters, digits and marks (and
 * invisible ignorables), appending their folds; returns where it ends.
 * ASCII goes through the byte table, the rest through the fold table. */
static inline size_t scan_run(tok_tokenizer *t, const unsigned char *s, size_t j,
                              size_t len)
{
    char *o = t->buf + t->buflen;
    /* Text beyond what a term can hold is skipped. */
    char *const lim = t->buf + t->run_off + TOK_RUN_CAP;
    unsigned prev = (unsigned)t->prev_nzccc;
    for (;;) {
        char f;
        while (j < len && (f = ascii_fold[s[j]]) != 0) {
            if (o < lim) *o++ = f;
            j++;
            prev = 0;
        }
        if (j >= len || s[j] < 0x80) break;
        uint32_t cp;
        size_t k = tok_decode(s + j, s + len, &cp);
        uint32_t e = tok_fold_entry(t->diacritics, cp);
        unsigned cls = TF_CLASS(e);
        if (cls != TC_LETTER && cls != TC_DIGIT && cls != TC_MARK) {
            if (cls != TC_IGNORE) break;
            j += k;
            continue;
        }
        if (o < lim) o += tok_put_fold(e, cp, s + j, k, o);
        if (cls == TC_LETTER) t->run_letters = 1;
        else if (cls == TC_DIGIT) t->run_digits = 1;
        if ((e & TF_COMPSECOND) || ((e & TF_NZCCC) && prev)) t->run_slow = 1;
        prev = (e & TF_NZCCC) != 0;
        j += k;
    }
    t->buflen = (size_t)(o - t->buf);
    t->prev_nzccc = (int)prev;
    return j;
}

/* Ends everything open: the run, the chunk, a CJK run. */
static int boundary(tok_tokenizer *t, size_t at)
{
    int rc;
    if (t->run_open && (rc = run_close(t, at))) return rc;
    if (t->natoms && (rc = flush_chunk(t))) return rc;
    if (t->cjk_count && (rc = cjk_end(t))) return rc;
    return 0;
}

/* The general state machine, from *pi on.  With the fast paths on, it
 * stops (at *pi) as soon as it has taken a step and nothing is open: the
 * fast scanner goes on from there. */
static int general(tok_tokenizer *t, size_t *pi)
{
    const unsigned char *s = (const unsigned char *)t->text;
    const size_t len = t->len;
    const size_t from = *pi;
    size_t i = from;
    int rc;
    while (i < len) {
        if (t->fast && i > from && !t->run_open && !t->natoms && !t->cjk_count) {
            *pi = i;
            return 0;
        }
        unsigned c = s[i];
        if (c < 0x80) {
            unsigned cls = ascii_class[c];
            if (cls == TC_LETTER || cls == TC_DIGIT) {
                if (!t->run_open) {
                    if (t->cjk_count && (rc = cjk_end(t))) return rc;
                    if (t->natoms == 0 && cls == TC_LETTER &&
                        ((c | 0x20) == 'h' || (c | 0x20) == 'w' ||
                         (c | 0x20) == 'f')) {
                        size_t n = url_len(t->text, i, len);
                        if (n) {
                            if ((rc = tok_url(t, i, i + n))) return rc;
                            i += n;
                            continue;
                        }
                    }
                    if (run_open(t, i)) return -1;
                }
                goto scan;
            }
            if (cls == TC_SEP) {
                size_t k = c == '(' && t->run_open ? paren_plural(s, i, len) : 0;
                if ((rc = boundary(t, i))) return rc;
                i += k ? k : 1;
                continue;
            }
            if (cls == TC_LBRACKET) {
                if ((rc = boundary(t, i))) return rc;
                size_t e = tok_editorial_end(t->text, i, len);
                i = e ? e : i + 1;
                continue;
            }
            /* A connector. */
            if (t->run_open && (rc = run_close(t, i))) return rc;
            if (t->cjk_count && (rc = cjk_end(t))) return rc;
            if ((rc = push_conn(t, cls, i, 1))) return rc;
            i++;
            continue;
        }

        uint32_t cp;
        size_t n = tok_decode(s + i, s + len, &cp);
        uint32_t e = tok_fold_entry(t->diacritics, cp);
        unsigned cls = TF_CLASS(e);
        switch (cls) {
        case TC_LETTER:
        case TC_DIGIT:
        case TC_MARK:
            if (cls == TC_MARK && !t->run_open && t->cjk_count) {
                cjk_mark(t, e, cp, i, n);
                break;
            }
            if (!t->run_open) {
                if (t->cjk_count && (rc = cjk_end(t))) return rc;
                if (run_open(t, i)) return -1;
            }
            goto scan;
        case TC_CJK:
            if (t->run_open && (rc = run_close(t, i))) return rc;
            if (t->natoms && (rc = flush_chunk(t))) return rc;
            if ((rc = cjk_add(t, e, cp, i, n))) return rc;
            /* The rest of the CJK run without the general dispatch. */
            i += n;
            while (i < len && s[i] >= 0x80) {
                n = tok_decode(s + i, s + len, &cp);
                e = tok_fold_entry(t->diacritics, cp);
                if (TF_CLASS(e) != TC_CJK) break;
                if ((rc = cjk_add(t, e, cp, i, n))) return rc;
                i += n;
            }
            continue;
        case TC_IGNORE:
            break; /* invisible: neither joins nor splits */
        case TC_SEP:
        case TC_LBRACKET:
            if ((rc = boundary(t, i))) return rc;
            break;
        default: /* connector */
            if (t->run_open && (rc = run_close(t, i))) return rc;
            if (t->cjk_count && (rc = cjk_end(t))) return rc;
            if ((rc = push_conn(t, cls, i, n))) return rc;
            break;
        }
        i += n;
        continue;

    scan: {
        /* A run is open and s[i] continues it. */
        size_t j = scan_run(t, s, i, len);
        if (t->natoms == 0 && !t->run_slow && t->fast && t->buflen > t->run_off) {
            /* The common case: a word alone, followed by a separator, or
             * by a connector or possessive that joins nothing ("word, ",
             * "word's ").  (A run of marks stripped away is no word: the
             * general path drops it, and what follows with it.) */
            size_t skip = j == len ? 0 : simple_end(t, s, j, len);
            if (j == len || skip) {
                t->run_open = 0;
                size_t wl = t->buflen - t->run_off;
                t->buflen = t->run_off;
                if ((rc = tok_emit_word(t, t->buf + t->run_off, wl, t->run_start, j,
                                   !(t->flags & (TOK_STEM_EN | TOK_STOPWORDS_EN)) &&
                                       wl <= TOK_MAX_TERM_BYTES)))
                    return rc;
                i = j + skip;
                continue;
            }
        }
        i = j;
    }
    }
    *pi = len;
    return 0;
}

/* The rest of a run from text offset i, where the fast scanner stopped
 * (or 0 with the fast paths off): the general path, the fast scanner
 * again wherever that hands back, and at the end whatever is still open.
 * Not inlined: most fields of a corpus never get here (tok_run), and with
 * the general state machine inside, its entry saves and sets up more than
 * their whole run needs. */
static __attribute__((noinline)) int tokenize(tok_tokenizer *t, size_t i)
{
    int rc;
    while (i < t->len) {
        if ((rc = general(t, &i))) return rc;
        if (t->fast && i < t->len) {
            i = tok_fast_scan(t, i, &rc);
            if (rc) return rc;
        }
    }
    return boundary(t, t->len);
}

/* ---------------------------------------------------------------------- */
/* Public API                                                             */

int tok_new(uint32_t flags, int mode, tok_tokenizer **out)
{
    *out = NULL;
    if ((flags & ~(uint32_t)TOK_KNOWN_FLAGS) ||
        (mode != TOK_MODE_INDEX && mode != TOK_MODE_QUERY))
        return -1;
    tok_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return -1;
    t->flags = flags;
    t->mode = mode;
    t->diacritics = (flags & TOK_FOLD_DIACRITICS) ? 1 : 0;
    t->fast = 1;
    t->classify = tok_classifier(TOK_SIMD_BEST);
    t->scan = tok_scanner(t->classify);
    if (flags & TOK_STEM_EN) {
        t->stemmer = sb_stemmer_new("english", NULL);
        if (!t->stemmer) goto fail;
    }
    if (tok_reserve(&t->buf, &t->bufcap, 4096)) goto fail;
    /* The fast scanner builds the atoms of a chunk of one window (at most
     * TOK_WIN) in place, without a capacity check. */
    t->atoms = malloc(TOK_WIN * sizeof *t->atoms);
    if (!t->atoms) goto fail;
    t->cap_atoms = TOK_WIN;
    *out = t;
    return 0;
fail:
    tok_free(t);
    return -1;
}

void tok_free(tok_tokenizer *t)
{
    if (!t) return;
    free(t->batch_mem);
    if (t->stemmer) sb_stemmer_delete(t->stemmer);
    free(t->buf);
    free(t->atoms);
    free(t->leaves);
    free(t->leafbuf);
    free(t);
}

uint32_t tok_flags(const tok_tokenizer *t) { return t->flags; }

void tok_set_fast_paths(tok_tokenizer *t, int on) { t->fast = on != 0; }

int tok_set_simd(tok_tokenizer *t, int which)
{
    tok_classify_fn f = tok_classifier(which);
    if (!f) return -1;
    t->classify = f;
    t->scan = tok_scanner(f);
    return 0;
}

int tok_batch_flush(tok_tokenizer *t)
{
    tok_batch *b = t->batch;
    int rc = b->n ? t->batch_fn(t->batch_ctx, b) : 0;
    b->n = 0;
    b->used = 0;
    return rc;
}

/* t->emit of tok_run_batch, for the terms not of the scanner's tight
 * loop.  Terms are never longer than TOK_MAX_TERM_BYTES (tok_emit cuts,
 * and the shortcuts that bypass it emit shorter words); the bound is
 * kept anyway, as the batch has room for no more. */
static int batch_put(void *ctx, const tok_token *tk)
{
    tok_tokenizer *t = ctx;
    uint32_t len = tk->len <= TOK_MAX_TERM_BYTES ? tk->len : TOK_MAX_TERM_BYTES;
    return tok_batch_add(t, t->batch, tk->term, len, tk->pos);
}

int tok_run_batch(tok_tokenizer *t, const char *text, size_t len,
                  uint32_t first_pos, tok_batch_fn fn, void *ctx,
                  uint32_t *next_pos)
{
    if (!t->batch_mem && !(t->batch_mem = malloc(sizeof *t->batch_mem))) return -1;
    t->batch = t->batch_mem;
    t->batch->n = t->batch->used = 0;
    t->batch_fn = fn;
    t->batch_ctx = ctx;
    int rc = tok_run(t, text, len, first_pos, batch_put, t, next_pos);
    /* What is left after the last full batch; not after a stop, as
     * tok_run would not emit past it either. */
    if (rc == 0) rc = tok_batch_flush(t);
    t->batch = NULL;
    t->batch_fn = NULL;
    t->batch_ctx = NULL;
    return rc;
}

int tok_run(tok_tokenizer *t, const char *text, size_t len,
            uint32_t first_pos, tok_emit_fn emit, void *ctx,
            uint32_t *next_pos)
{
    t->text = text;
    t->len = len;
    t->pos = first_pos;
    t->emit = emit;
    t->ctx = ctx;
    t->stop = 0;
    t->run_open = 0;
    t->natoms = 0;
    t->buflen = 0;
    t->cjk_count = 0;
    int rc = 0;
    if (len) {
        /* The fast scanner alone takes most fields to the end, and when
         * it gets there nothing is open (a CJK run it hands over open
         * stops before the end), so there is nothing to close. */
        size_t i = 0;
        if (t->fast) i = tok_fast_scan(t, 0, &rc);
        if (!rc && i < len) rc = tokenize(t, i);
    }
    if (rc == 0 && t->stop) rc = t->stop;
    if (next_pos) *next_pos = t->pos;
    t->text = NULL;
    t->emit = NULL;
    t->ctx = NULL;
    return rc;
}
