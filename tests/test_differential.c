/*
 * test_differential.c — the query layer against a brute-force model.
 *
 * A fixed-seed generator writes a corpus of documents (title and body)
 * over a Zipf vocabulary with frequent stop-word-like words and a few
 * hyphenated compounds, and indexes it through the public API three
 * times: in one segment; with a tiny memory budget, in many; and in many
 * again followed by a second writer session that replaces documents (so
 * deleted documents must be skipped, yet still count in the BM25
 * statistics, as index.h specifies); and once more with stemming and
 * stop-word removal, whose position gaps phrases must respect.  These four
 * have bigrams: the many-segment one with the default common pairs, the
 * others with CommonGrams, so phrases with frequent words are matched
 * through bigram terms, while the model matches them word by word; a fifth
 * index is built without bigrams, and its document lengths and scores must
 * equal those of the first.  Several hundred
 * random queries (terms, phrases taken from the documents and made up,
 * AND/OR/NOT nested with parentheses, absent words) then run through
 * quire_count and quire_search, and through qry_search with and without
 * block-max pruning, and must agree with an evaluator written here from
 * the definitions alone: the documents tokenized with the index tokenizer
 * into term -> positions maps (body positions starting where the writer
 * starts them, so a phrase never spans the title/body boundary), the query
 * words tokenized in query mode, BM25 computed per query.h.
 *
 * Counts and matching sets must be equal; top-k lists must have the same
 * documents in the same order with scores within 1e-6, except that
 * documents whose model scores tie within 1e-9 may trade places.
 */
#define _GNU_SOURCE   /* nftw, mkdtemp, strndup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>
#include <ftw.h>

#include <cmocka.h>

#include "quire.h"
#include "index/builder.h"
#include "index/index.h"
#include "query/eval.h"
#include "query/query.h"
#include "tokenizer/tokenizer.h"

#define NDOCS 3000
/* The third index replaces some documents in a second writer session:
 * NREPL more document slots, whose ids repeat earlier ones. */
#define NREPL 400
#define NSLOTS (NDOCS + NREPL)
#define NVOCAB 2000
#define NQUERIES 400
/* Tokenizer configuration of the index under test (and of the model). */
#define FLAGS_CG (QUIRE_TOK_DEFAULT | QUIRE_TOK_COMMONGRAMS)
#define FLAGS_NO_CG \
    (QUIRE_TOK_DEFAULT & ~(uint32_t)(QUIRE_TOK_COMMONGRAMS | QUIRE_TOK_COMMONPAIRS))
/* The default: bigrams only of two common words. */
#define FLAGS_PAIRS (FLAGS_NO_CG | QUIRE_TOK_COMMONPAIRS)
#define FLAGS_TITLE (FLAGS_PAIRS | QUIRE_TOK_TITLE_TERMS)
static uint32_t tok_flags_cur = FLAGS_CG;
#define TOK_FLAGS tok_flags_cur
#define FLAGS_STEM_STOP \
    (FLAGS_CG | QUIRE_TOK_STEM_EN | QUIRE_TOK_STOPWORDS_EN)
#define NINDEXES 6

/* ---- deterministic random numbers (splitmix64) -------------------------- */

static uint64_t rng_state = 0x5eed1234abcdULL;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

/* rnd_below from another stream: the prefix words (`wor*`) draw from a
 * second, the fuzzy words (`word~1`) from a third, the slop of phrases
 * ("a b"~2) from a fourth, boosts (word^2) from a fifth, title: words
 * from a sixth, so that adding
 * any of them to the generator
 * changed no query drawn before from the others. */
static uint64_t rng2_state = 0x7072656669782aULL, rng3_state = 0x66757a7a797eULL,
                rng4_state = 0x736c6f70707921ULL, rng5_state = 0x626f6f73745eULL,
                rng6_state = 0x7469746c653aULL;

static uint32_t rnd_stream_below(uint64_t *state, uint32_t n)
{
    uint64_t saved = rng_state;
    rng_state = *state;
    uint32_t v = rnd_below(n);
    *state = rng_state;
    rng_state = saved;
    return v;
}

static uint32_t rnd2_below(uint32_t n) { return rnd_stream_below(&rng2_state, n); }
static uint32_t rnd3_below(uint32_t n) { return rnd_stream_below(&rng3_state, n); }
static uint32_t rnd4_below(uint32_t n) { return rnd_stream_below(&rng4_state, n); }
static uint32_t rnd5_below(uint32_t n) { return rnd_stream_below(&rng5_state, n); }
static uint32_t rnd6_below(uint32_t n) { return rnd_stream_below(&rng6_state, n); }

/* ---- vocabulary ---------------------------------------------------------- */

static const char *stop_words[] = {
    "the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "on",
    "was", "with", "as", "be", "by", "at", "or", "not", "this", "he", "she",
};
#define NSTOP (sizeof stop_words / sizeof stop_words[0])

static char *vocab[NVOCAB];
static double zipf_cdf[NVOCAB];

static void make_vocab(void)
{
    static const char *syl[] = {"ka", "lo", "mi", "ter", "an", "zu", "ro",
                                "vel", "qua", "dis", "ne", "po", "shi",
                                "bar", "el", "tin", "gor", "fa", "ux", "ya"};
    size_t nsyl = sizeof syl / sizeof syl[0];
    for (size_t i = 0; i < NVOCAB; i++) {
        char w[64];
        if (i < NSTOP) {
            snprintf(w, sizeof w, "%s", stop_words[i]);
        } else if (i % 97 == 0) {
            /* A compound: found by the whole and by its parts. */
            snprintf(w, sizeof w, "%s%s-%s%zu", syl[i % nsyl],
                     syl[(i / 7) % nsyl], syl[(i / 3) % nsyl], i);
        } else {
            /* Unique by the numeric suffix spelled in syllables. */
            size_t v = i, n = 0;
            w[0] = '\0';
            do {
                n += (size_t)snprintf(w + n, sizeof w - n, "%s", syl[v % nsyl]);
                v /= nsyl;
            } while (v);
            snprintf(w + n, sizeof w - n, "%s", syl[(i * 7) % nsyl]);
        }
        vocab[i] = strdup(w);
    }
    double sum = 0;
    for (size_t i = 0; i < NVOCAB; i++) {
        sum += 1.0 / pow((double)(i + 1), 1.05);
        zipf_cdf[i] = sum;
    }
    for (size_t i = 0; i < NVOCAB; i++)
        zipf_cdf[i] /= sum;
}

static uint32_t zipf_word(void)
{
    double u = (double)(rnd() >> 11) / 9007199254740992.0;
    uint32_t lo = 0, hi = NVOCAB - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* ---- corpus -------------------------------------------------------------- */

typedef struct doc_text {
    char id[16];
    char *title, *body;
    uint32_t *title_words, *body_words;   /* vocabulary indexes */
    uint32_t ntitle, nbody;
} doc_text;

static doc_text docs[NSLOTS];

static char *render_words(const uint32_t *w, uint32_t n)
{
    size_t cap = 16;
    for (uint32_t i = 0; i < n; i++) cap += strlen(vocab[w[i]]) + 3;
    char *s = malloc(cap), *p = s;
    for (uint32_t i = 0; i < n; i++) {
        const char *v = vocab[w[i]];
        if (i) {
            /* Punctuation and case that the tokenizer must see through. */
            uint32_t r = rnd_below(20);
            if (r == 0) *p++ = ',';
            else if (r == 1) *p++ = '.';
            *p++ = ' ';
        }
        size_t l = strlen(v);
        memcpy(p, v, l);
        if (rnd_below(15) == 0 && p[0] >= 'a' && p[0] <= 'z')
            p[0] = (char)(p[0] - 'a' + 'A');
        p += l;
    }
    *p = '\0';
    return s;
}

/* Id replaced by replacement slot NDOCS + j: spread over the corpus, and
 * every fifth one replaces the previous replacement again (a replacement
 * within one writer session). */
static uint32_t replaced_doc(uint32_t j)
{
    if (j % 5 == 4)
        return replaced_doc(j - 1);
    return (j * 7 + 3) % NDOCS;
}

static void make_corpus(void)
{
    for (uint32_t d = 0; d < NSLOTS; d++) {
        doc_text *t = &docs[d];
        snprintf(t->id, sizeof t->id, "doc%u",
                 d < NDOCS ? d : replaced_doc(d - NDOCS));
        t->ntitle = rnd_below(4) == 0 ? 0 : 1 + rnd_below(7);
        t->nbody = rnd_below(30) == 0 ? 0 : 3 + rnd_below(90);
        t->title_words = malloc((t->ntitle + 1) * sizeof(uint32_t));
        t->body_words = malloc((t->nbody + 1) * sizeof(uint32_t));
        for (uint32_t i = 0; i < t->ntitle; i++) t->title_words[i] = zipf_word();
        for (uint32_t i = 0; i < t->nbody; i++) t->body_words[i] = zipf_word();
        t->title = render_words(t->title_words, t->ntitle);
        t->body = render_words(t->body_words, t->nbody);
    }
}

/* ---- term dictionary of the model --------------------------------------- */

#define DICT_SLOTS (1u << 16)
static char *dict_term[DICT_SLOTS];
static uint32_t dict_id[DICT_SLOTS];
static uint32_t nterms;
static uint32_t *term_df;      /* documents containing each term */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* Id of a term; adds it when `add`, else returns UINT32_MAX if absent. */
static uint32_t dict_get(const char *s, size_t n, int add)
{
    uint32_t i = (uint32_t)hash_bytes(s, n) & (DICT_SLOTS - 1);
    while (dict_term[i]) {
        if (strlen(dict_term[i]) == n && memcmp(dict_term[i], s, n) == 0)
            return dict_id[i];
        i = (i + 1) & (DICT_SLOTS - 1);
    }
    if (!add) return UINT32_MAX;
    assert_true(nterms < DICT_SLOTS / 2);
    dict_term[i] = strndup(s, n);
    dict_id[i] = nterms;
    return nterms++;
}

/* ---- model documents: sorted (term, position) pairs --------------------- */

typedef struct occ {
    uint32_t term, pos;
} occ;

typedef struct model_doc {
    occ *occ;
    uint32_t n;         /* occurrences, title terms included */
    uint32_t len;       /* document length: every emitted term counts, no
                           title term (TOK_TITLE_TERMS) */
} model_doc;

static model_doc mdocs[NSLOTS];

/* The index a query runs against: its document slots (deleted ones
 * included, as they count in the BM25 statistics) and deletions. */
static uint32_t view_nslots;
static uint32_t view_gen;   /* changes with every set_view */
static uint8_t view_deleted[NSLOTS];
static double avgdl;

typedef struct occ_vec {
    occ *v;
    uint32_t n, cap;
} occ_vec;

static int collect_occ(void *ctx, const tok_token *t)
{
    occ_vec *ov = ctx;
    if (ov->n == ov->cap) {
        ov->cap = ov->cap ? ov->cap * 2 : 64;
        ov->v = realloc(ov->v, ov->cap * sizeof *ov->v);
    }
    ov->v[ov->n++] = (occ){dict_get(t->term, t->len, 1), t->pos};
    return 0;
}

/* Title terms (TOK_TITLE_TERMS): TOK_FIELD_MARK and the term. */
static int collect_title_occ(void *ctx, const tok_token *t)
{
    char buf[TOK_MAX_TERM_BYTES + 1];
    buf[0] = TOK_FIELD_MARK;
    memcpy(buf + 1, t->term, t->len);
    tok_token ft = *t;
    ft.term = buf;
    ft.len = t->len + 1;
    return collect_occ(ctx, &ft);
}

static int cmp_occ(const void *a, const void *b)
{
    const occ *x = a, *y = b;
    if (x->term != y->term) return x->term < y->term ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static void free_model(void)
{
    for (uint32_t d = 0; d < NSLOTS; d++) {
        free(mdocs[d].occ);
        mdocs[d].occ = NULL;
    }
    for (size_t i = 0; i < DICT_SLOTS; i++) {
        free(dict_term[i]);
        dict_term[i] = NULL;
    }
    nterms = 0;
    free(term_df);
    term_df = NULL;
}

/* Tokenizes every slot with the current flags into the model. */
static void build_model(void)
{
    free_model();
    tok_tokenizer *tok;
    assert_int_equal(tok_new(TOK_FLAGS, TOK_MODE_INDEX, &tok), 0);
    for (uint32_t d = 0; d < NSLOTS; d++) {
        occ_vec ov = {0};
        uint32_t next = 0;
        assert_int_equal(tok_run(tok, docs[d].title, strlen(docs[d].title), 0,
                                 collect_occ, &ov, &next), 0);
        /* The writer's rule for where the body starts. */
        assert_int_equal(tok_run(tok, docs[d].body, strlen(docs[d].body),
                                 idx_body_first_pos(next), collect_occ, &ov,
                                 NULL), 0);
        mdocs[d].len = ov.n;
        if (TOK_FLAGS & TOK_TITLE_TERMS)
            assert_int_equal(tok_run(tok, docs[d].title, strlen(docs[d].title), 0,
                                     collect_title_occ, &ov, NULL), 0);
        if (ov.n)
            qsort(ov.v, ov.n, sizeof *ov.v, cmp_occ);
        mdocs[d].occ = ov.v;
        mdocs[d].n = ov.n;
    }
    tok_free(tok);
    term_df = calloc(nterms + 1, sizeof *term_df);
}

/* Statistics of the first `nslots` slots; `deleted` marks dead ones. */
static void set_view(uint32_t nslots, const uint8_t *deleted)
{
    view_gen++;
    view_nslots = nslots;
    memcpy(view_deleted, deleted, nslots);
    uint64_t total = 0;
    memset(term_df, 0, (nterms + 1) * sizeof *term_df);
    for (uint32_t d = 0; d < nslots; d++) {
        total += mdocs[d].len;
        for (uint32_t i = 0; i < mdocs[d].n; i++)
            if (i == 0 || mdocs[d].occ[i].term != mdocs[d].occ[i - 1].term)
                term_df[mdocs[d].occ[i].term]++;
    }
    avgdl = (double)total / nslots;
}

/* Positions of `term` in doc d: *n of them starting at the return value. */
static const occ *doc_positions(uint32_t d, uint32_t term, uint32_t *n)
{
    const model_doc *m = &mdocs[d];
    uint32_t lo = 0, hi = m->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (m->occ[mid].term < term) lo = mid + 1; else hi = mid;
    }
    uint32_t e = lo;
    while (e < m->n && m->occ[e].term == term) e++;
    *n = e - lo;
    return *n ? m->occ + lo : NULL;   /* occ is NULL in an empty document */
}

static int has_position(const occ *o, uint32_t n, uint64_t pos)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (o[mid].pos < pos) lo = mid + 1; else hi = mid;
    }
    return lo < n && o[lo].pos == pos;
}

/* ---- model queries ------------------------------------------------------- */

enum { M_WORD, M_PHRASE, M_AND, M_OR };

typedef struct mnode {
    int kind;
    char text[256];          /* WORD: the word; PHRASE: words, space-sep */
    struct mnode *kids[4];
    int neg[4];              /* AND: child is excluded */
    int nkids;
    /* a prefix word (`wor*` whose text before the '*' is one term) or a
     * fuzzy word (`word~1`, `fuzzy` set): the terms of the corpus it
     * stands for, and their union's df in the view */
    int prefix, fuzzy;
    unsigned slop;           /* PHRASE: "..."~slop */
    double boost;            /* WORD, PHRASE: ^boost, 0 for none */
    uint32_t *pfx_terms, npfx;
    double *pfx_w;           /* what an occurrence of each counts (fuzzy) */
    uint32_t pfx_df, pfx_view;
    /* planned: a word/phrase as query-mode terms with relative positions */
    uint32_t nslots;
    uint32_t slot_term[16];  /* UINT32_MAX: absent from the corpus */
    uint32_t slot_rel[16];
} mnode;

static mnode pool[64 * NQUERIES];
static size_t npool;

static mnode *mnew(int kind)
{
    assert_true(npool < sizeof pool / sizeof pool[0]);
    mnode *n = &pool[npool++];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    return n;
}

static const char *random_word(void)
{
    uint32_t r = rnd_below(40);
    if (r == 0) return "zzqxabsent";        /* in no document */
    if (r < 4) return vocab[rnd_below(NVOCAB)];
    return vocab[zipf_word()];
}

static mnode *gen_phrase(void)
{
    mnode *n = mnew(M_PHRASE);
    /* a third of phrases have a slop, 0 to 4 */
    if (rnd4_below(3) == 0) n->slop = rnd4_below(5);
    uint32_t len = 2 + rnd_below(3);
    uint32_t r = rnd_below(10);
    char *p = n->text;
    if (r < 6) {
        /* Words that follow each other in a document, sometimes across
         * the end of the title into the body. */
        const doc_text *t = &docs[rnd_below(NDOCS)];
        uint32_t all = t->ntitle + t->nbody;
        if (all >= len) {
            uint32_t start = rnd_below(all - len + 1);
            if (r == 0 && t->ntitle >= 1 && t->nbody >= len)
                start = t->ntitle - 1;
            for (uint32_t i = 0; i < len; i++) {
                uint32_t k = start + i;
                uint32_t w = k < t->ntitle ? t->title_words[k]
                                           : t->body_words[k - t->ntitle];
                p += sprintf(p, "%s%s", i ? " " : "", vocab[w]);
            }
            return n;
        }
    }
    for (uint32_t i = 0; i < len; i++)
        p += sprintf(p, "%s%s", i ? " " : "", random_word());
    return n;
}

/* A boost for one word or phrase in six: 2, 0.5 or 3. */
static void maybe_boost(mnode *n)
{
    static const double b[] = {2, 0.5, 3};
    if (rnd5_below(6) == 0) n->boost = b[rnd5_below(3)];
}

static mnode *gen(int depth)
{
    uint32_t r = rnd_below(depth >= 3 ? 4 : 10);
    if (r < 3) {
        mnode *n = mnew(M_WORD);
        snprintf(n->text, sizeof n->text, "%s", random_word());
        if (rnd2_below(6) == 0) {
            size_t keep = 1 + rnd2_below(4), len = strlen(n->text);
            if (keep > len) keep = len;
            n->text[keep] = '*';
            n->text[keep + 1] = '\0';
        } else if (rnd3_below(7) == 0) {
            /* misspelt or not, then `~`, `~0`, `~1`, `~2` or `~3` */
            size_t len = strlen(n->text), at = rnd3_below((uint32_t)len);
            uint32_t how = rnd3_below(4);
            if (how == 0) n->text[at] = "aeiouz"[rnd3_below(6)];
            else if (how == 1 && len > 1) memmove(n->text + at, n->text + at + 1, len - at);
            static const char *const suffix[] = {"~", "~0", "~1", "~2", "~3", "~1", "~2"};
            strcat(n->text, suffix[rnd3_below(7)]);
        }
        if (rnd6_below(5) == 0) {
            /* title:word: the word in titles where there are title terms,
             * else the text "title:word" */
            memmove(n->text + 6, n->text, strlen(n->text) + 1);
            memcpy(n->text, "title:", 6);
        }
        maybe_boost(n);
        return n;
    }
    if (r == 3) {
        mnode *n = gen_phrase();
        maybe_boost(n);
        return n;
    }
    mnode *n = mnew(r < 7 ? M_AND : M_OR);
    n->nkids = 2 + (int)rnd_below(2);
    for (int i = 0; i < n->nkids; i++) {
        n->kids[i] = gen(depth + 1);
        /* The first child stays positive, so no group is only negative. */
        n->neg[i] = n->kind == M_AND && i > 0 && rnd_below(3) == 0;
    }
    return n;
}

/* Query text of the model tree.  Composite children get parentheses. */
static void render(const mnode *n, char *buf, size_t cap, size_t *len)
{
#define OUT(...) (*len += (size_t)snprintf(buf + *len, cap - *len, __VA_ARGS__))
    switch (n->kind) {
    case M_WORD:
        OUT("%s", n->text);
        if (n->boost) OUT("^%g", n->boost);
        return;
    case M_PHRASE:
        OUT("\"%s\"", n->text);
        if (n->slop || rnd4_below(8) == 0) OUT("~%u", n->slop);
        if (n->boost) OUT("^%g", n->boost);
        return;
    default:
        for (int i = 0; i < n->nkids; i++) {
            if (i) {
                if (n->kind == M_OR) OUT(" OR ");
                else if (!n->neg[i] && rnd_below(3) == 0) OUT(" AND ");
                else OUT(" ");
            }
            if (n->neg[i]) OUT(rnd_below(2) ? "-" : "NOT ");
            int paren = n->kids[i]->kind == M_AND || n->kids[i]->kind == M_OR;
            if (paren) OUT("(");
            render(n->kids[i], buf, cap, len);
            if (paren) OUT(")");
        }
        return;
    }
#undef OUT
}

/* Planning a title:word in an index with title terms: its terms are
 * title terms. */
static int cur_field;

static int collect_slot(void *ctx, const tok_token *t)
{
    mnode *n = ctx;
    assert_true(n->nslots < 16);
    char buf[TOK_MAX_TERM_BYTES + 1];
    buf[0] = TOK_FIELD_MARK;
    memcpy(buf + 1, t->term, t->len);
    n->slot_term[n->nslots] = cur_field ? dict_get(buf, t->len + 1, 0)
                                        : dict_get(t->term, t->len, 0);
    n->slot_rel[n->nslots] = t->pos;
    n->nslots++;
    return 0;
}

typedef struct first_term {
    char bytes[256];
    size_t len;
    int n;
} first_term;

static int collect_first(void *ctx, const tok_token *t)
{
    first_term *f = ctx;
    if (f->n++ == 0) {
        f->len = t->len < sizeof f->bytes ? t->len : sizeof f->bytes;
        memcpy(f->bytes, t->term, f->len);
    }
    return 0;
}

/* Makes n a word that stands for a set of terms (a prefix or fuzzy
 * word), empty so far. */
static void set_word(mnode *n)
{
    n->prefix = 1;
    n->npfx = 0;
    n->pfx_view = UINT32_MAX;
    n->pfx_terms = malloc(DICT_SLOTS * sizeof *n->pfx_terms);
    n->pfx_w = malloc(DICT_SLOTS * sizeof *n->pfx_w);
    assert_non_null(n->pfx_terms);
    assert_non_null(n->pfx_w);
}

/* query.h: a word ending in '*' (not "**") whose text before the '*' is
 * one term stands for every term that starts with it. */
static int plan_prefix(mnode *n, const char *text, tok_tokenizer *qtok)
{
    size_t len = strlen(text);
    if (len < 2 || text[len - 1] != '*' || text[len - 2] == '*') return 0;
    first_term f = {.n = 0};
    assert_int_equal(tok_run(qtok, text, len - 1, 0, collect_first, &f, NULL), 0);
    if (f.n != 1) return 0;
    set_word(n);
    char want[257];
    size_t wl = 0;
    if (cur_field) want[wl++] = TOK_FIELD_MARK;
    memcpy(want + wl, f.bytes, f.len);
    wl += f.len;
    for (uint32_t i = 0; i < DICT_SLOTS; i++)
        if (dict_term[i] && strlen(dict_term[i]) >= wl && memcmp(dict_term[i], want, wl) == 0) {
            n->pfx_w[n->npfx] = 1.0;
            n->pfx_terms[n->npfx++] = dict_id[i];
        }
    return 1;
}

/* Optimal string alignment distance (index/fuzzy.h) by the whole table;
 * the vocabulary is ASCII, so bytes are code points. */
static unsigned osa(const char *a, const char *b)
{
    size_t m = strlen(a), n = strlen(b);
    if (m > 63 || n > 63) return 99;
    unsigned t[64][64];
    for (size_t i = 0; i <= m; i++) t[i][0] = (unsigned)i;
    for (size_t j = 0; j <= n; j++) t[0][j] = (unsigned)j;
    for (size_t i = 1; i <= m; i++)
        for (size_t j = 1; j <= n; j++) {
            unsigned v = t[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (t[i - 1][j] + 1 < v) v = t[i - 1][j] + 1;
            if (t[i][j - 1] + 1 < v) v = t[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                t[i - 2][j - 2] + 1 < v)
                v = t[i - 2][j - 2] + 1;
            t[i][j] = v;
        }
    return t[m][n];
}

/* query.h: a word ending in '~' or '~N' (not "~~") whose text before the
 * '~' is one term stands for every term within N edits of it (N at most
 * 2; without N, 0 up to 2 letters, 1 up to 5, else 2); with 0 edits it is
 * the word before the '~'; a word before it that is no term drops out.
 * Returns 1 when n is planned. */
static int plan_fuzzy(mnode *n, const char *text, tok_tokenizer *qtok)
{
    size_t len = strlen(text), d = len;
    while (d > 0 && text[d - 1] >= '0' && text[d - 1] <= '9') d--;
    if (d < 2 || text[d - 1] != '~' || text[d - 2] == '~') return 0;
    first_term f = {.n = 0};
    assert_int_equal(tok_run(qtok, text, d - 1, 0, collect_first, &f, NULL), 0);
    if (f.n > 1) return 0;
    n->fuzzy = 1;
    n->nslots = 0;
    if (f.n == 0) return 1;       /* dropped */
    for (size_t i = 0; i < f.len; i++) assert_true((unsigned char)f.bytes[i] < 0x80);
    unsigned edits = f.len <= 2 ? 0 : f.len <= 5 ? 1 : 2;
    if (d < len) edits = (unsigned)atoi(text + d) < 2 ? (unsigned)atoi(text + d) : 2;
    if (edits == 0) {
        assert_int_equal(tok_run(qtok, text, d - 1, 0, collect_slot, n, NULL), 0);
        return 1;
    }
    /* a title term's neighbours are title terms, a word's are words */
    char want[258];
    size_t wl = 0;
    if (cur_field) want[wl++] = TOK_FIELD_MARK;
    memcpy(want + wl, f.bytes, f.len);
    want[wl + f.len] = '\0';
    set_word(n);
    const char *name[DICT_SLOTS];
    for (uint32_t i = 0; i < DICT_SLOTS; i++) {
        unsigned dist;
        if (dict_term[i] && (dict_term[i][0] == TOK_FIELD_MARK) == cur_field &&
            (dist = osa(want, dict_term[i])) <= edits) {
            /* QUERY.md: an occurrence d edits away counts 1 - d / (L + 1),
             * L the longer word's length (without a title mark) */
            size_t l = strlen(dict_term[i]) > wl + f.len ? strlen(dict_term[i]) : wl + f.len;
            name[n->npfx] = dict_term[i];
            n->pfx_w[n->npfx] = 1.0 - (double)dist / (double)(l - cur_field + 1);
            n->pfx_terms[n->npfx++] = dict_id[i];
        }
    }
    /* in the dictionary's (bytewise) order: the engine adds a document's
     * weighted frequencies in float in that order (pfx_freq) */
    for (uint32_t a = 1; a < n->npfx; a++)
        for (uint32_t b = a; b > 0 && strcmp(name[b - 1], name[b]) > 0; b--) {
            const char *tn = name[b]; name[b] = name[b - 1]; name[b - 1] = tn;
            uint32_t tt = n->pfx_terms[b]; n->pfx_terms[b] = n->pfx_terms[b - 1];
            n->pfx_terms[b - 1] = tt;
            double tw = n->pfx_w[b]; n->pfx_w[b] = n->pfx_w[b - 1]; n->pfx_w[b - 1] = tw;
        }
    return 1;
}

static double pfx_freq(const mnode *n, uint32_t d)
{
    uint32_t k, f = 0;
    float wf = 0;   /* a fuzzy word's: each term's k * w as a float, summed in float */
    for (uint32_t i = 0; i < n->npfx; i++) {
        doc_positions(d, n->pfx_terms[i], &k);
        f += k;
        if (k) wf += (float)(k * n->pfx_w[i]);
    }
    return n->fuzzy ? (double)wf : (double)f;
}

/* Tokenizes the words and phrases of the tree in query mode. */
static void plan_model(mnode *n, tok_tokenizer *qtok)
{
    const char *text = n->text;
    if (n->kind == M_WORD && (TOK_FLAGS & TOK_TITLE_TERMS) && !strncmp(text, "title:", 6) &&
        text[6]) {
        cur_field = 1;
        text += 6;
    }
    if (n->kind == M_WORD && (plan_prefix(n, text, qtok) || plan_fuzzy(n, text, qtok))) {
        cur_field = 0;
        return;
    }
    if (n->kind == M_WORD || n->kind == M_PHRASE) {
        n->nslots = 0;
        assert_int_equal(tok_run(qtok, text, strlen(text), 0, collect_slot, n, NULL), 0);
        cur_field = 0;
        uint32_t base = UINT32_MAX;
        for (uint32_t i = 0; i < n->nslots; i++)
            if (n->slot_rel[i] < base) base = n->slot_rel[i];
        for (uint32_t i = 0; i < n->nslots; i++)
            n->slot_rel[i] -= base;
        return;
    }
    for (int i = 0; i < n->nkids; i++)
        plan_model(n->kids[i], qtok);
}

static double idf_of(uint32_t term)
{
    double df = term == UINT32_MAX ? 0 : term_df[term];
    return log(1.0 + ((double)view_nslots - df + 0.5) / (df + 0.5));
}

static double sat(double f, uint32_t len)
{
    return f * 2.2 / (f + 1.2 * (1.0 - 0.75 + 0.75 * (double)len / avgdl));
}

/* The smallest largest d (position - rel) of an assignment of positions
 * to slots i.. of phrase n for start lo, every d in [lo, lo + slop],
 * slots of one term at different positions, some slot exactly at lo
 * (`exact`, so far); INT64_MAX when there is none.  Every assignment is
 * tried: this is the definition, not sloppy.c's method. */
static int64_t sloppy_best(const mnode *n, const occ *const *o, const uint32_t *no,
                           uint32_t i, int64_t lo, int exact, int64_t maxd, uint32_t *at)
{
    if (i == n->nslots) return exact ? maxd : INT64_MAX;
    int64_t best = INT64_MAX;
    for (uint32_t j = 0; j < no[i]; j++) {
        int64_t d = (int64_t)o[i][j].pos - n->slot_rel[i];
        if (d < lo || d > lo + n->slop) continue;
        int clash = 0;
        for (uint32_t q = 0; q < i; q++)
            clash |= n->slot_term[q] == n->slot_term[i] && at[q] == o[i][j].pos;
        if (clash) continue;
        at[i] = o[i][j].pos;
        int64_t m = sloppy_best(n, o, no, i + 1, lo, exact || d == lo, d > maxd ? d : maxd, at);
        if (m < best) best = m;
    }
    return best;
}

/* The sloppy frequency of phrase n in a document (QUERY.md): over every
 * start lo with a match, 1 / (1 + its smallest spread). */
static double sloppy_model(const mnode *n, const occ *const *o, const uint32_t *no)
{
    double f = 0;
    uint32_t at[16];
    for (uint32_t i = 0; i < n->nslots; i++)
        for (uint32_t j = 0; j < no[i]; j++) {
            int64_t lo = (int64_t)o[i][j].pos - n->slot_rel[i];
            /* each start once: at its first slot and occurrence */
            int seen = 0;
            for (uint32_t i2 = 0; i2 <= i && !seen; i2++)
                for (uint32_t j2 = 0; j2 < (i2 == i ? j : no[i2]) && !seen; j2++)
                    seen = (int64_t)o[i2][j2].pos - n->slot_rel[i2] == lo;
            if (seen) continue;
            int64_t m = sloppy_best(n, o, no, 0, lo, 0, lo, at);
            if (m != INT64_MAX) f += 1.0 / (1.0 + (double)(m - lo));
        }
    return f;
}

static int model_match_1(const mnode *n, uint32_t d, double *score, int *present);

/* Does doc d match n?  Adds n's score to *score when it does, times its
 * boost.  A node with no terms at all (`present` = 0) is "dropped" by the
 * planner. */
static int model_match(const mnode *n, uint32_t d, double *score, int *present)
{
    double s = 0;
    int m = model_match_1(n, d, &s, present);
    *score += n->boost ? s * n->boost : s;
    return m;
}

static int model_match_1(const mnode *n, uint32_t d, double *score, int *present)
{
    *present = 1;
    if (n->prefix) {
        double f = pfx_freq(n, d);
        if (f <= 0) return 0;
        mnode *m = (mnode *)n;      /* the df is cached per view */
        if (m->pfx_view != view_gen) {
            m->pfx_df = 0;
            for (uint32_t e = 0; e < view_nslots; e++) m->pfx_df += pfx_freq(n, e) > 0;
            m->pfx_view = view_gen;
        }
        double df = m->pfx_df;
        *score += log(1.0 + ((double)view_nslots - df + 0.5) / (df + 0.5)) * sat(f, mdocs[d].len);
        return 1;
    }
    switch (n->kind) {
    case M_WORD:
    case M_PHRASE: {
        if (n->nslots == 0) { *present = 0; return 0; }
        const occ *o[16];
        uint32_t no[16] = {0};
        for (uint32_t i = 0; i < n->nslots; i++) {
            if (n->slot_term[i] == UINT32_MAX) return 0;
            o[i] = doc_positions(d, n->slot_term[i], &no[i]);
            if (no[i] == 0) return 0;
        }
        double freq = 0;
        if (n->slop && n->nslots > 1) {
            freq = sloppy_model(n, o, no);
            if (!freq) return 0;
            double w = 0;
            for (uint32_t i = 0; i < n->nslots; i++) w += idf_of(n->slot_term[i]);
            *score += w * sat(freq, mdocs[d].len);
            return 1;
        }
        for (uint32_t a = 0; a < no[0]; a++) {
            if (o[0][a].pos < n->slot_rel[0]) continue;
            uint64_t start = o[0][a].pos - n->slot_rel[0];
            uint32_t i;
            for (i = 1; i < n->nslots; i++)
                if (!has_position(o[i], no[i], start + n->slot_rel[i])) break;
            freq += i == n->nslots;
        }
        if (!freq) return 0;
        double w = 0;
        for (uint32_t i = 0; i < n->nslots; i++) w += idf_of(n->slot_term[i]);
        *score += w * sat(freq, mdocs[d].len);
        return 1;
    }
    case M_AND: {
        double s = 0;
        int any_pos = 0;
        for (int i = 0; i < n->nkids; i++) {
            int pr;
            double cs = 0;
            int m = model_match(n->kids[i], d, &cs, &pr);
            if (!pr) continue;
            if (n->neg[i]) {
                if (m) return 0;
                continue;
            }
            any_pos = 1;
            if (!m) return 0;
            s += cs;
        }
        if (!any_pos) { *present = 0; return 0; }
        *score += s;
        return 1;
    }
    default: {
        double s = 0;
        int any = 0, any_present = 0;
        for (int i = 0; i < n->nkids; i++) {
            int pr;
            double cs = 0;
            if (model_match(n->kids[i], d, &cs, &pr)) {
                any = 1;
                s += cs;
            }
            any_present |= pr;
        }
        if (!any_present) { *present = 0; return 0; }
        if (any) *score += s;
        return any;
    }
    }
}

typedef struct mhit {
    uint32_t doc;
    double score;
} mhit;

static int cmp_mhit(const void *a, const void *b)
{
    const mhit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

/* ---- the test ------------------------------------------------------------ */

static char tmpdirs[NINDEXES][64];
static double model_score[NSLOTS];
static int model_hit[NSLOTS];

static void add_doc(quire_writer *w, uint32_t d, int want_replaced)
{
    quire_error err = {0};
    quire_doc_input in = {
        docs[d].id, strlen(docs[d].id), docs[d].title, strlen(docs[d].title),
        docs[d].body, strlen(docs[d].body), NULL, 0};
    int replaced = -1;
    if (quire_writer_add(w, &in, &replaced, &err) != QUIRE_OK)
        fail_msg("writer_add: %s", err.message);
    assert_int_equal(replaced, want_replaced);
}

/* Slots whose id the second session deletes (quire_writer_delete): some
 * committed documents no replacement touched, and some replacements of
 * replacements, documents of the session itself. */
static int deleted_by_id(uint32_t slot)
{
    if (slot >= NDOCS) {
        uint32_t j = slot - NDOCS;
        return j % 5 == 4 && j % 3 == 0;
    }
    if (slot % 37 != 5) return 0;
    for (uint32_t j = 0; j < NREPL; j++)
        if (replaced_doc(j) == slot) return 0;
    return 1;
}

/* Second session on index `dir`: the NREPL replacement slots, then the
 * deletions by id. */
static void replace_docs(const char *dir, size_t budget)
{
    quire_writer_options opt = {.mem_budget = budget, .tok_flags = TOK_FLAGS};
    quire_writer *w;
    quire_error err = {0};
    if (quire_writer_open(dir, &opt, &w, &err) != QUIRE_OK)
        fail_msg("writer_open %s: %s", dir, err.message);
    for (uint32_t j = 0; j < NREPL; j++)
        add_doc(w, NDOCS + j, 1);
    for (uint32_t d = 0; d < NSLOTS; d++) {
        if (!deleted_by_id(d)) continue;
        int found = -1;
        if (quire_writer_delete(w, docs[d].id, strlen(docs[d].id), &found, &err) != QUIRE_OK)
            fail_msg("writer_delete: %s", err.message);
        assert_int_equal(found, 1);
    }
    if (quire_writer_commit(w, &err) != QUIRE_OK)
        fail_msg("commit: %s", err.message);
    quire_writer_free(w);
}

static void build_index(const char *dir, size_t budget)
{
    quire_writer_options opt = {.mem_budget = budget, .tok_flags = TOK_FLAGS};
    quire_writer *w;
    quire_error err = {0};
    if (quire_writer_open(dir, &opt, &w, &err) != QUIRE_OK)
        fail_msg("writer_open %s: %s", dir, err.message);
    for (uint32_t d = 0; d < NDOCS; d++)
        add_doc(w, d, 0);
    if (quire_writer_commit(w, &err) != QUIRE_OK)
        fail_msg("commit: %s", err.message);
    quire_writer_free(w);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    make_vocab();
    make_corpus();
    build_model();
    for (int i = 0; i < NINDEXES; i++) {
        snprintf(tmpdirs[i], sizeof tmpdirs[i], "/tmp/quire_diffXXXXXX");
        if (!mkdtemp(tmpdirs[i])) return -1;
    }
    build_index(tmpdirs[0], 0);
    tok_flags_cur = FLAGS_PAIRS;        /* the default */
    build_index(tmpdirs[1], 64 * 1024);
    tok_flags_cur = FLAGS_CG;
    build_index(tmpdirs[2], 64 * 1024);
    replace_docs(tmpdirs[2], 64 * 1024);
    tok_flags_cur = FLAGS_STEM_STOP;
    build_index(tmpdirs[3], 64 * 1024);
    tok_flags_cur = FLAGS_NO_CG;
    build_index(tmpdirs[4], 0);
    tok_flags_cur = FLAGS_TITLE;
    build_index(tmpdirs[5], 64 * 1024);
    tok_flags_cur = FLAGS_CG;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NINDEXES; i++)
        nftw(tmpdirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    for (uint32_t d = 0; d < NSLOTS; d++) {
        free(docs[d].title); free(docs[d].body);
        free(docs[d].title_words); free(docs[d].body_words);
    }
    for (size_t i = 0; i < NVOCAB; i++) free(vocab[i]);
    free_model();
    return 0;
}

/* Compares an engine top-k with the model's full ranking `mh` (n hits). */
static void check_topk(const char *q, const char *what, const quire_hit *h,
                       size_t nh, const mhit *mh, size_t n, size_t k)
{
    size_t want = n < k ? n : k;
    if (nh != want)
        fail_msg("[%s] %s k=%zu: %zu hits, model %zu", q, what, k, nh, want);
    for (size_t i = 0; i < nh; i++) {
        double tol = 1e-6 * (fabs(mh[i].score) > 1 ? fabs(mh[i].score) : 1);
        if (fabs(h[i].score - mh[i].score) > tol)
            fail_msg("[%s] %s k=%zu rank %zu: score %.12f, model %.12f (doc %llu vs %u)",
                     q, what, k, i, h[i].score, mh[i].score,
                     (unsigned long long)h[i].doc, mh[i].doc);
        if (h[i].doc == mh[i].doc)
            continue;
        /* Only a tie may reorder: the engine's doc must score the same. */
        if (h[i].doc >= view_nslots || !model_hit[h[i].doc] ||
            fabs(model_score[h[i].doc] - mh[i].score) > 1e-9)
            fail_msg("[%s] %s k=%zu rank %zu: doc %llu, model doc %u (%.12f)",
                     q, what, k, i, (unsigned long long)h[i].doc, mh[i].doc,
                     mh[i].score);
        for (size_t j = 0; j < i; j++)
            if (h[j].doc == h[i].doc)
                fail_msg("[%s] %s: doc %llu twice", q, what,
                         (unsigned long long)h[i].doc);
    }
}

static size_t n_checked, n_nonzero, n_phrase_hits, n_prefix, n_fuzzy, n_fuzzy_sets,
    n_sloppy_hits, n_boost_hits, n_title_hits;

static int has_title(const mnode *n)
{
    int any = n->kind == M_WORD && !strncmp(n->text, "title:", 6);
    for (int i = 0; i < n->nkids; i++) any |= has_title(n->kids[i]);
    return any;
}

static int has_boost(const mnode *n)
{
    int any = n->boost != 0;
    for (int i = 0; i < n->nkids; i++) any |= has_boost(n->kids[i]);
    return any;
}

/* Whether n or a node under it is a prefix word (what 0), a fuzzy word
 * (1) or a fuzzy word standing for a set of terms (2). */
static int has(const mnode *n, int what)
{
    int any = what == 0 ? n->prefix && !n->fuzzy : what == 1 ? n->fuzzy : n->fuzzy && n->prefix;
    for (int i = 0; i < n->nkids; i++) any |= has(n->kids[i], what);
    return any;
}

static void run_queries(const char *dir)
{
    quire_index *ix;
    quire_error err = {0};
    if (quire_index_open(dir, &ix, &err) != QUIRE_OK)
        fail_msg("index_open: %s", err.message);
    idx_reader *r;
    if (idx_reader_open(dir, 0, &r, &err) != QUIRE_OK)
        fail_msg("reader_open: %s", err.message);
    assert_int_equal(idx_reader_ndocs(r), view_nslots);
    uint64_t total = 0, live = 0;
    for (uint32_t d = 0; d < view_nslots; d++) {
        total += mdocs[d].len;
        live += !view_deleted[d];
    }
    assert_int_equal(idx_reader_total_len(r), total);
    assert_int_equal(idx_reader_live_docs(r), live);

    tok_tokenizer *qtok;
    assert_int_equal(tok_new(TOK_FLAGS, TOK_MODE_QUERY, &qtok), 0);
    mhit *mh = malloc(NSLOTS * sizeof *mh);
    quire_hit *buf = malloc((NSLOTS + 8) * sizeof *buf);
    uint64_t saved_rng = rng_state;
    rng_state = 0xfeedfaceULL;      /* same queries for every index */
    npool = 0;
    for (int qi = 0; qi < NQUERIES; qi++) {
        mnode *root = gen(0);
        char q[4096];
        size_t qlen = 0;
        render(root, q, sizeof q, &qlen);
        assert_true(qlen < sizeof q);
        plan_model(root, qtok);

        size_t n = 0;
        for (uint32_t d = 0; d < view_nslots; d++) {
            double s = 0;
            int pr;
            model_hit[d] = !view_deleted[d] && model_match(root, d, &s, &pr);
            model_score[d] = s;
            if (model_hit[d]) mh[n++] = (mhit){d, s};
        }
        qsort(mh, n, sizeof *mh, cmp_mhit);
        if (n) n_nonzero++;
        if (root->kind == M_PHRASE && n) n_phrase_hits++;
        if (root->kind == M_PHRASE && root->slop && root->nslots > 1 && n) n_sloppy_hits++;
        if (has_boost(root) && n) n_boost_hits++;
        if ((TOK_FLAGS & TOK_TITLE_TERMS) && has_title(root) && n) n_title_hits++;

        uint64_t count = UINT64_MAX;
        if (quire_count(ix, q, qlen, &count, &err) != QUIRE_OK)
            fail_msg("[%s] count: %s", q, err.message);
        if (count != n)
            fail_msg("[%s] count %llu, model %zu", q, (unsigned long long)count, n);

        static const size_t ks[] = {10, 50};
        for (size_t ki = 0; ki < 2; ki++) {
            quire_results *res;
            if (quire_search(ix, q, qlen, ks[ki], &res, &err) != QUIRE_OK)
                fail_msg("[%s] search: %s", q, err.message);
            size_t nh = quire_results_size(res);
            for (size_t i = 0; i < nh; i++) buf[i] = *quire_results_get(res, i);
            quire_results_free(res);
            check_topk(q, "quire_search", buf, nh, mh, n, ks[ki]);
        }
        /* The matching set: every match, through both drivers. */
        size_t nh;
        if (qry_search(r, q, qlen, NSLOTS + 8, buf, &nh, &err) != QUIRE_OK)
            fail_msg("[%s] qry_search: %s", q, err.message);
        check_topk(q, "qry_search all", buf, nh, mh, n, NSLOTS + 8);
        if (qry_search_exhaustive(r, q, qlen, 10, buf, &nh, &err) != QUIRE_OK)
            fail_msg("[%s] exhaustive: %s", q, err.message);
        check_topk(q, "exhaustive", buf, nh, mh, n, 10);
        for (size_t k = 1; k <= 3; k++) {
            if (qry_search(r, q, qlen, k, buf, &nh, &err) != QUIRE_OK)
                fail_msg("[%s] qry_search: %s", q, err.message);
            check_topk(q, "qry_search small k", buf, nh, mh, n, k);
        }
        n_checked++;
        n_prefix += has(root, 0);
        n_fuzzy += has(root, 1);
        n_fuzzy_sets += has(root, 2);
    }
    for (size_t i = 0; i < npool; i++) {
        free(pool[i].pfx_terms);
        free(pool[i].pfx_w);
    }
    rng_state = saved_rng;
    free(mh);
    free(buf);
    tok_free(qtok);
    idx_reader_close(r);
    quire_index_close(ix);
}

static const uint8_t no_deletions[NSLOTS];

static void test_one_segment(void **state)
{
    (void)state;
    set_view(NDOCS, no_deletions);
    idx_reader *r;
    quire_error err;
    assert_int_equal(idx_reader_open(tmpdirs[0], 1, &r, &err), QUIRE_OK);
    assert_int_equal(idx_reader_nsegments(r), 1);
    idx_reader_close(r);
    run_queries(tmpdirs[0]);
}

/* Runs the queries against index `dir`, built with tokenizer `flags`
 * (which it must report) in at least `min_segs` segments, without
 * deletions; the model's flags are set for the run and restored after. */
static void run_variant(const char *dir, uint32_t flags, size_t min_segs)
{
    tok_flags_cur = flags;
    set_view(NDOCS, no_deletions);
    idx_reader *r;
    quire_error err;
    assert_int_equal(idx_reader_open(dir, 1, &r, &err), QUIRE_OK);
    assert_int_equal(idx_reader_tok_flags(r), flags);
    size_t nseg = idx_reader_nsegments(r);
    if (nseg < min_segs)
        fail_msg("expected at least %zu segments, got %zu", min_segs, nseg);
    idx_reader_close(r);
    run_queries(dir);
    tok_flags_cur = FLAGS_CG;
}

/* Many segments (64 KiB budget), with the default flags. */
static void test_many_segments(void **state)
{
    (void)state;
    run_variant(tmpdirs[1], QUIRE_TOK_DEFAULT, 4);
}

/* Deleted documents (replaced, across sessions and within one, or
 * deleted by id) never match but still count in the statistics. */
static void test_with_deletions(void **state)
{
    (void)state;
    static uint8_t deleted[NSLOTS];
    size_t by_id = 0;
    for (uint32_t j = 0; j < NREPL; j++) {
        /* The slot the replacement supersedes: the original document, or
         * the previous replacement of the same id. */
        uint32_t old = j % 5 == 4 ? NDOCS + j - 1 : replaced_doc(j);
        deleted[old] = 1;
    }
    for (uint32_t d = 0; d < NSLOTS; d++)
        if (deleted_by_id(d)) {
            deleted[d] = 1;
            by_id++;
        }
    assert_true(by_id > 60);
    set_view(NSLOTS, deleted);
    idx_reader *r;
    quire_error err;
    assert_int_equal(idx_reader_open(tmpdirs[2], 1, &r, &err), QUIRE_OK);
    assert_true(idx_reader_nsegments(r) > 3);
    idx_reader_close(r);
    run_queries(tmpdirs[2]);
}

/* Without CommonGrams: the same model, phrases matched on positions. */
static void test_no_commongrams(void **state)
{
    (void)state;
    run_variant(tmpdirs[4], FLAGS_NO_CG, 1);
}

/* Bigram terms are postings, not tokens: an index with CommonGrams has
 * many more terms and positions than one without, yet every document
 * length, the total length and so every score are the same. */
static void test_commongrams_lengths(void **state)
{
    (void)state;
    idx_reader *cg, *plain;
    quire_error err;
    assert_int_equal(idx_reader_open(tmpdirs[0], 1, &cg, &err), QUIRE_OK);
    assert_int_equal(idx_reader_open(tmpdirs[4], 1, &plain, &err), QUIRE_OK);
    assert_int_equal(idx_reader_nsegments(cg), 1);
    assert_int_equal(idx_reader_nsegments(plain), 1);
    assert_int_equal(idx_reader_total_len(cg), idx_reader_total_len(plain));
    const idx_segment *a = idx_reader_segment(cg, 0);
    const idx_segment *b = idx_reader_segment(plain, 0);
    for (uint32_t d = 0; d < NDOCS; d++)
        assert_int_equal(idx_segment_doclen(a, d), idx_segment_doclen(b, d));

    quire_index *ia, *ib;
    assert_int_equal(quire_index_open(tmpdirs[0], &ia, &err), QUIRE_OK);
    assert_int_equal(quire_index_open(tmpdirs[4], &ib, &err), QUIRE_OK);
    quire_stats sa, sb;
    assert_int_equal(quire_index_stats(ia, &sa, &err), QUIRE_OK);
    assert_int_equal(quire_index_stats(ib, &sb, &err), QUIRE_OK);
    assert_true(sa.terms > sb.terms);          /* bigrams were indexed */
    assert_true(sa.positions > sb.positions);
    /* common pairs: fewer bigrams than CommonGrams, more than none (in
     * positions: that index has many segments, so terms repeat) */
    quire_index *ic;
    quire_stats sc;
    assert_int_equal(quire_index_open(tmpdirs[1], &ic, &err), QUIRE_OK);
    assert_int_equal(quire_index_stats(ic, &sc, &err), QUIRE_OK);
    assert_true(sa.positions > sc.positions && sc.positions > sb.positions);
    quire_index_close(ic);
    static const char *qs[] = {"\"of the\"", "\"the of\"", "\"and to a\"",
                               "the", "\"in that\" OR is", "it -\"for it\""};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        quire_results *ra, *rb;
        assert_int_equal(quire_search(ia, qs[i], strlen(qs[i]), 20, &ra, &err),
                         QUIRE_OK);
        assert_int_equal(quire_search(ib, qs[i], strlen(qs[i]), 20, &rb, &err),
                         QUIRE_OK);
        assert_int_equal(quire_results_size(ra), quire_results_size(rb));
        for (size_t j = 0; j < quire_results_size(ra); j++) {
            const quire_hit *x = quire_results_get(ra, j);
            const quire_hit *y = quire_results_get(rb, j);
            assert_int_equal(x->doc, y->doc);
            /* same arithmetic in the same order: bit-identical */
            assert_true(x->score == y->score);
        }
        if (i < 3) assert_true(quire_results_size(ra) > 0);
        quire_results_free(ra);
        quire_results_free(rb);
    }
    quire_index_close(ia);
    quire_index_close(ib);
    idx_reader_close(cg);
    idx_reader_close(plain);
}

/* Stemming and stop-word removal: stop words leave position gaps that
 * phrases must respect exactly, and words that vanish drop out. */
static void test_stem_stopwords(void **state)
{
    (void)state;
    tok_flags_cur = FLAGS_STEM_STOP;
    build_model();      /* the model tokenizes with the flags too */
    run_variant(tmpdirs[3], FLAGS_STEM_STOP, 1);
}

/* Title terms: title:word reads the title terms, which count in no
 * document's length; every other query answers as without them. */
static void test_title_terms(void **state)
{
    (void)state;
    tok_flags_cur = FLAGS_TITLE;
    build_model();      /* the model holds the title terms too */
    run_variant(tmpdirs[5], FLAGS_TITLE, 4);
}

/* The generator must actually exercise what it claims to. */
static void test_coverage(void **state)
{
    (void)state;
    assert_int_equal(n_checked, NINDEXES * NQUERIES);
    assert_true(n_nonzero > NQUERIES);          /* most queries match */
    assert_true(n_phrase_hits > 20);
    assert_true(n_sloppy_hits > 10);           /* "a b"~N alone, matching */
    assert_true(n_boost_hits > NINDEXES * 20);  /* word^B, "..."^B, matching */
    assert_true(n_title_hits > 50);             /* title:word with title terms */
    assert_true(n_prefix > NINDEXES * 20);      /* queries with a prefix word */
    assert_true(n_fuzzy > NINDEXES * 20);       /* with a fuzzy word */
    assert_true(n_fuzzy_sets > NINDEXES * 10);  /* one that stands for terms */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_segment),
        cmocka_unit_test(test_many_segments),
        cmocka_unit_test(test_with_deletions),
        cmocka_unit_test(test_no_commongrams),
        cmocka_unit_test(test_commongrams_lengths),
        cmocka_unit_test(test_stem_stopwords),
        cmocka_unit_test(test_title_terms),
        cmocka_unit_test(test_coverage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
