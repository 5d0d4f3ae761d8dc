/*
 * tok_words.c — from the atoms of one chunk to terms.
 *
 * A chunk is what lies between two separators: runs of letters and digits
 * and the single connectors between them (' - _ / . : , @ #).  This file
 * decides what the connectors mean (docs/TOKENIZER.md has the rules with
 * examples):
 *   - a word ("leaf") is a run, or runs merged into one term: an apostrophe
 *     word (don't), an abbreviation (U.S. -> us), a number with a decimal
 *     point, thousands separators or a clock time (3.14, 1,000, 6:30);
 *     a possessive 's is dropped;
 *   - leaves joined by - _ / or . form a compound: in index mode the whole
 *     (joiners removed, periods kept: thencandidate, v1.2, 8.8.8.8) at the
 *     position of the first leaf, then every leaf at its own position; in
 *     query mode only the leaves;
 *   - @handle, #tag and e-mail addresses are compounds whose whole keeps
 *     every character (@wikileaks, jane.doe@example.com).
 * URLs are found by the scanner and emitted by tok_url here, the same way.
 */
#include "tokenizer/tok_impl.h"

#include <stdlib.h>
#include <string.h>

enum { KIND_JOINED, KIND_VERBATIM };

static inline int is_run(const tok_atom *a) { return a->kind == TOK_A_RUN; }
static inline int is_conn(const tok_atom *a, char ch)
{
    return a->kind == TOK_A_CONN && a->ch == (uint8_t)ch;
}
static inline int is_digits(const tok_atom *a)
{
    return a->kind == TOK_A_RUN && a->digits && !a->letters;
}
static inline int is_letters(const tok_atom *a)
{
    return a->kind == TOK_A_RUN && a->letters && !a->digits;
}
static inline int is_s(const tok_tokenizer *t, const tok_atom *a)
{
    return a->kind == TOK_A_RUN && a->len == 1 && t->buf[a->off] == 's';
}

static int leaf_new(tok_tokenizer *t, char sep, size_t start)
{
    if (t->nleaves == t->cap_leaves) {
        size_t n = t->cap_leaves ? t->cap_leaves * 2 : 16;
        tok_leaf *p = realloc(t->leaves, n * sizeof *p);
        if (!p) return -1;
        t->leaves = p;
        t->cap_leaves = n;
    }
    tok_leaf *l = &t->leaves[t->nleaves++];
    l->off = (uint32_t)t->leaflen;
    l->len = 0;
    l->start = l->end = start;
    l->sep = sep;
    return 0;
}

/* Appends to the last leaf; text beyond what a term can hold is dropped
 * (tok_cut trims the rest at a character boundary). */
static int leaf_put(tok_tokenizer *t, const char *s, size_t n)
{
    tok_leaf *l = &t->leaves[t->nleaves - 1];
    if (l->len >= TOK_RUN_CAP) return 0;
    if (n > TOK_RUN_CAP - l->len) n = TOK_RUN_CAP - l->len;
    if (tok_reserve(&t->leafbuf, &t->leafcap, t->leaflen + n)) return -1;
    memcpy(t->leafbuf + t->leaflen, s, n);
    t->leaflen += n;
    l->len += (uint32_t)n;
    return 0;
}

static int leaf_run(tok_tokenizer *t, const tok_atom *a)
{
    t->leaves[t->nleaves - 1].end = a->end;
    return leaf_put(t, t->buf + a->off, a->len);
}

/* The run's folded text starts with a combining mark. */
static int starts_with_mark(const tok_tokenizer *t, const tok_atom *a)
{
    const unsigned char *p = (const unsigned char *)t->buf + a->off;
    uint32_t cp;
    tok_decode(p, p + a->len, &cp);
    return TF_CLASS(tok_fold_entry(t->diacritics, cp)) == TC_MARK;
}

/* Folds the last leaf again with utf8proc (NFKC, composition). */
static int refold_leaf(tok_tokenizer *t)
{
    tok_leaf *l = &t->leaves[t->nleaves - 1];
    char tmp[TOK_RUN_CAP];
    long r = tok_fold_slow(t, t->leafbuf + l->off, l->len, tmp, sizeof tmp);
    if (r < 0) return -1;
    t->leaflen = l->off;
    l->len = 0;
    return leaf_put(t, tmp, (size_t)r);
}

/* Builds one leaf from the run at j; returns the index of the first atom
 * after it, or (size_t)-1 on allocation failure. */
static size_t parse_leaf(tok_tokenizer *t, size_t j, char sep)
{
    const tok_atom *a = t->atoms;
    const size_t n = t->natoms;
    /* Inside a dotted sequence (v1.2.3, 8.8.8.8) no part merges further. */
    const int in_dots = j >= 2 && is_conn(&a[j - 1], '.') && is_run(&a[j - 2]);
    size_t k = j + 1;
    if (leaf_new(t, sep, a[j].start) || leaf_run(t, &a[j])) return (size_t)-1;

    if (is_digits(&a[j]) && !in_dots) {
        int grouped = 0, timed = 0;
        /* 1,000,000: groups of exactly three digits. */
        if (a[j].ncp <= 3)
            while (k + 1 < n && is_conn(&a[k], ',') && is_digits(&a[k + 1]) &&
                   a[k + 1].ncp == 3) {
                if (leaf_put(t, ",", 1) || leaf_run(t, &a[k + 1])) return (size_t)-1;
                k += 2;
                grouped = 1;
            }
        /* 6:30, 12:30:45. */
        if (!grouped && a[j].ncp <= 2)
            while (timed < 2 && k + 1 < n && is_conn(&a[k], ':') &&
                   is_digits(&a[k + 1]) && a[k + 1].ncp == 2) {
                if (leaf_put(t, ":", 1) || leaf_run(t, &a[k + 1])) return (size_t)-1;
                k += 2;
                timed++;
            }
        /* 3.14, 1,000.5 — but not 1.2.3, which is a dotted compound. */
        if (!timed && k + 1 < n && is_conn(&a[k], '.') && is_digits(&a[k + 1]) &&
            !(k + 3 < n && is_conn(&a[k + 2], '.') && is_run(&a[k + 3]))) {
            if (leaf_put(t, ".", 1) || leaf_run(t, &a[k + 1])) return (size_t)-1;
            k += 2;
        }
    } else if (is_letters(&a[j]) && a[j].ncp <= 2 && !in_dots) {
        /* Abbreviations: U.S., e.g., Ph.D. — parts of one or two letters,
         * at least one single, and nothing dotted after. */
        size_t m = j;
        int single = a[j].ncp == 1, count = 1;
        while (m + 2 < n && is_conn(&a[m + 1], '.') && is_letters(&a[m + 2]) &&
               a[m + 2].ncp <= 2) {
            m += 2;
            count++;
            single |= a[m].ncp == 1;
        }
        int dotted_after = m + 2 < n && is_conn(&a[m + 1], '.') && is_run(&a[m + 2]);
        if (count >= 2 && single && !dotted_after) {
            int compose = 0;
            for (size_t q = j + 2; q <= m; q += 2) {
                compose |= starts_with_mark(t, &a[q]);
                if (leaf_run(t, &a[q])) return (size_t)-1;
            }
            /* With the periods gone a part's leading mark (kept without
             * TOK_FOLD_DIACRITICS) lands on the letter before it: compose
             * them, or the term would not be NFKC (e.\u0301t -> ét). */
            if (compose && refold_leaf(t)) return (size_t)-1;
            k = m + 1;
        }
    }

    /* Apostrophes: don't, o'neil join; a possessive 's (also after a
     * period: Jr.'s) is dropped and ends the word. */
    while (k < n) {
        if (k + 1 < n && is_conn(&a[k], '\'') && is_run(&a[k + 1])) {
            if (is_s(t, &a[k + 1])) {
                k += 2;
                break;
            }
            if (leaf_put(t, "'", 1) || leaf_run(t, &a[k + 1])) return (size_t)-1;
            k += 2;
            continue;
        }
        if (k + 2 < n && is_conn(&a[k], '.') && is_conn(&a[k + 1], '\'') &&
            is_s(t, &a[k + 2]))
            k += 3;
        break;
    }
    return k;
}

/* An e-mail domain after '@': runs joined by '.' or '-', with a period. */
static int domain_ok(const tok_tokenizer *t, size_t j)
{
    const tok_atom *a = t->atoms;
    int dots = 0;
    while (j + 2 < t->natoms && (is_conn(&a[j + 1], '.') || is_conn(&a[j + 1], '-')) &&
           is_run(&a[j + 2])) {
        dots += a[j + 1].ch == '.';
        j += 2;
    }
    return dots > 0;
}

/* Emits the leaves collected in t->leaves: a single word alone, or the
 * whole (index mode only) and then the parts.  `prefix` is '@', '#' or 0;
 * the whole starts at `start`. */
static int emit_leaves(tok_tokenizer *t, char prefix, size_t start, int kind)
{
    int rc;
    const tok_leaf *l = t->leaves;
    if (t->nleaves == 1 && !prefix)
        return tok_emit(t, t->leafbuf + l[0].off, l[0].len, l[0].start,
                        l[0].end, t->pos++, TOK_K_WORD | TOK_K_STEM);
    /* The whole: joiners vanish (thencandidate).  A handle's, tag's or
     * address's whole would keep its '@', '#' or periods, and a dotted
     * compound's its periods (v1.2): no query asks for those
     * (tok_whole_wanted), so they are not built. */
    int dotted = 0;
    for (size_t i = 1; i < t->nleaves; i++) dotted |= l[i].sep == '.';
    if (t->mode == TOK_MODE_INDEX && !prefix && kind != KIND_VERBATIM && !dotted) {
        char whole[TOK_RUN_CAP + 8];
        size_t w = 0;
        int joint = 0;
        for (size_t i = 0; i < t->nleaves && w < TOK_RUN_CAP; i++) {
            size_t m = l[i].len;
            if (m > TOK_RUN_CAP - w) m = TOK_RUN_CAP - w;
            if (i > 0 && m > 0) joint |= tok_combines(t, t->leafbuf + l[i].off, m);
            memcpy(whole + w, t->leafbuf + l[i].off, m);
            w += m;
        }
        if (joint) {
            /* Each leaf is NFKC, but one starting with a mark that folding
             * kept (then-\u0301t without TOK_FOLD_DIACRITICS, a Bengali
             * vowel sign) composes with the end of the leaf before it once
             * the joiner is gone: fold the whole again, as the text
             * without the joiner would be. */
            char tmp[TOK_RUN_CAP + 8];
            /* utf8proc wants whole characters: the cap may have cut one. */
            long r = tok_refold(t, whole, tok_cut(whole, w), tmp, sizeof tmp);
            if (r < 0) return -1;
            memcpy(whole, tmp, (size_t)r);
            w = (size_t)r;
        }
        /* a part may still hold a period or a colon (x-3.14) */
        if (tok_whole_wanted(whole, w) &&
            (rc = tok_emit(t, whole, w, start, l[t->nleaves - 1].end, t->pos, TOK_K_STEM)))
            return rc;
    }
    for (size_t i = 0; i < t->nleaves; i++)
        if ((rc = tok_emit(t, t->leafbuf + l[i].off, l[i].len, l[i].start,
                           l[i].end, t->pos++, TOK_K_WORD | TOK_K_STEM)))
            return rc;
    return 0;
}

int tok_words(tok_tokenizer *t)
{
    const tok_atom *a = t->atoms;
    const size_t n = t->natoms;
    size_t i = 0;
    int rc;
    while (i < n) {
        t->nleaves = 0;
        t->leaflen = 0;
        if (!is_run(&a[i])) {
            /* @handle and #tag: the prefix, then runs joined by '_'; only
             * at the start of a chunk (foo@bar is no handle). */
            if ((a[i].ch == '@' || a[i].ch == '#') && i == 0 && i + 1 < n &&
                is_run(&a[i + 1])) {
                size_t k = i + 1;
                if (leaf_new(t, 0, a[k].start) || leaf_run(t, &a[k])) return -1;
                k++;
                while (k + 1 < n && is_conn(&a[k], '_') && is_run(&a[k + 1])) {
                    if (leaf_new(t, '_', a[k + 1].start) || leaf_run(t, &a[k + 1]))
                        return -1;
                    k += 2;
                }
                if ((rc = emit_leaves(t, (char)a[i].ch, a[i].start, KIND_VERBATIM)))
                    return rc;
                i = k;
                continue;
            }
            i++;
            continue;
        }
        int kind = KIND_JOINED, slash = 0;
        size_t k = parse_leaf(t, i, 0);
        if (k == (size_t)-1) return -1;
        while (k + 1 < n && is_run(&a[k + 1])) {
            char ch = (char)a[k].ch;
            if (ch == '-' || ch == '.' ||
                ((ch == '_' || ch == '/') && kind == KIND_JOINED)) {
                slash |= ch == '/';
                if ((k = parse_leaf(t, k + 1, ch)) == (size_t)-1) return -1;
                continue;
            }
            if (ch == '@' && kind == KIND_JOINED && !slash && domain_ok(t, k + 1)) {
                kind = KIND_VERBATIM;
                if (leaf_new(t, '@', a[k + 1].start) || leaf_run(t, &a[k + 1]))
                    return -1;
                k += 2;
                continue;
            }
            break;
        }
        if ((rc = emit_leaves(t, 0, a[i].start, kind))) return rc;
        i = k;
    }
    return 0;
}

/* ASCII letters and digits lower-cased, 0 for any other byte. */
#define R26(b) b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, \
    b + 10, b + 11, b + 12, b + 13, b + 14, b + 15, b + 16, b + 17, b + 18,  \
    b + 19, b + 20, b + 21, b + 22, b + 23, b + 24, b + 25
static const char alnum_fold[256] = {
    ['0'] = '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
    ['A'] = R26('a'), ['a'] = R26('a'),
};
#undef R26

/* tok_url for an ASCII URL of up to TOK_URL_FAST bytes, which is nearly
 * every one: no decoding, no fold table, no slow path, no leaf buffer.
 * The parts are the runs of letters and digits in a lower-cased copy,
 * emitted from it, the same terms as the general loop of tok_url.  Sets
 * *taken to 0 (and emits nothing) for a URL it leaves to that loop. */
#define TOK_URL_FAST 1024
static int url_ascii(tok_tokenizer *t, size_t start, size_t end, int *taken)
{
    const unsigned char *s = (const unsigned char *)t->text + start;
    const size_t len = end - start;
    char low[TOK_URL_FAST];
    *taken = 0;
    if (len == 0 || len > sizeof low) return 0;
    /* One pass, which the compiler vectorizes: lower-case, and OR every
     * byte to see whether any is beyond ASCII. */
    unsigned char any = 0;
    for (size_t k = 0; k < len; k++) {
        unsigned char c = s[k];
        any |= c;
        low[k] = (char)((unsigned char)(c - 'A') < 26u ? c + 32 : c);
    }
    if (any & 0x80) return 0;
    *taken = 1;
    int rc, parts = 0;
    for (size_t i = 0; i < len;) {
        if (!alnum_fold[(unsigned char)low[i]]) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < len && alnum_fold[(unsigned char)low[j]]) j++;
        if ((rc = tok_emit(t, low + i, j - i < TOK_RUN_CAP ? j - i : TOK_RUN_CAP,
                           start + i, start + j, t->pos++, TOK_K_WORD | TOK_K_STEM)))
            return rc;
        parts = 1;
        i = j;
    }
    if (!parts) t->pos++;
    return 0;
}

/* Emits the URL text[start, end): every run of letters and digits in it.
 * Its whole, which keeps ':' or '.', is no term (tok_whole_wanted). */
int tok_url(tok_tokenizer *t, size_t start, size_t end)
{
    /* A shortcut like the fast scanner, off with it so that the tests
     * compare the two. */
    if (t->fast) {
        int taken, rc = url_ascii(t, start, end, &taken);
        if (taken) return rc;
    }
    const unsigned char *s = (const unsigned char *)t->text;
    int in_leaf = 0, slow = 0;
    t->nleaves = 0;
    t->leaflen = 0;
    size_t i = start;
    while (i <= end) {
        /* A run of ASCII letters and digits at once: most of a URL. */
        size_t j = i;
        char low[64];
        while (j < end && j - i < sizeof low) {
            unsigned char c = s[j];
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) low[j - i] = (char)c;
            else if (c >= 'A' && c <= 'Z') low[j - i] = (char)(c + 32);
            else break;
            j++;
        }
        if (j > i) {
            if (!in_leaf) {
                if (leaf_new(t, 0, i)) return -1;
                in_leaf = 1;
                slow = 0;
            }
            if (leaf_put(t, low, j - i)) return -1;
            t->leaves[t->nleaves - 1].end = j;
            i = j;
            continue;
        }
        uint32_t cp = 0, e = 0;
        size_t k = 1;
        unsigned cls = TC_SEP;
        char f[TOK_MAX_FOLD];
        size_t fl = 0;
        if (i < end) {
            if (s[i] < 0x80) {
                unsigned char c = s[i];
                if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                    f[0] = (char)c;
                    fl = 1;
                    cls = TC_LETTER;
                } else if (c >= 'A' && c <= 'Z') {
                    f[0] = (char)(c + 32);
                    fl = 1;
                    cls = TC_LETTER;
                }
            } else {
                /* url_len admitted only whole characters beyond ASCII:
                 * letters, digits, marks, CJK and ignorables. */
                k = tok_decode(s + i, s + end, &cp);
                e = tok_fold_entry(t->diacritics, cp);
                cls = TF_CLASS(e);
                if (cls == TC_IGNORE) {
                    i += k;
                    continue;
                }
                fl = tok_put_fold(e, cp, s + i, k, f);
            }
        }
        if (i < end && cls != TC_SEP) {
            if (!in_leaf) {
                if (leaf_new(t, 0, i)) return -1;
                in_leaf = 1;
                slow = 0;
            }
            if (e & (TF_COMPSECOND | TF_NZCCC)) slow = 1;
            if (leaf_put(t, f, fl)) return -1;
            t->leaves[t->nleaves - 1].end = i + k;
        } else if (in_leaf) {
            in_leaf = 0;
            tok_leaf *l = &t->leaves[t->nleaves - 1];
            if (slow) {
                /* Refold the leaf from the original bytes. */
                char tmp[TOK_RUN_CAP];
                size_t m = l->end - l->start;
                if (m > TOK_SLOW_INPUT) {
                    m = TOK_SLOW_INPUT;
                    while (m > 0 && (s[l->start + m] & 0xc0) == 0x80) m--;
                }
                long r = tok_fold_slow(t, t->text + l->start, m, tmp, sizeof tmp);
                if (r < 0) return -1;
                t->leaflen = l->off;
                l->len = 0;
                if (leaf_put(t, tmp, (size_t)r)) return -1;
                if (l->len == 0) t->nleaves--;
            }
        }
        i += k;
    }
    int rc;
    if (t->nleaves == 0) {
        t->pos++;
        return 0;
    }
    for (size_t q = 0; q < t->nleaves; q++) {
        const tok_leaf *l = &t->leaves[q];
        if ((rc = tok_emit(t, t->leafbuf + l->off, l->len, l->start, l->end,
                           t->pos++, TOK_K_WORD | TOK_K_STEM)))
            return rc;
    }
    return 0;
}
