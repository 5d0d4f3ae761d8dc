/*
 * plan.h — internal: a parsed query rewritten into what evaluation needs.
 *
 * Planning sends every word and phrase through the index's tokenizer in
 * query mode and simplifies the tree:
 *  - a word giving one term is a TERM; several terms (`then-candidate`)
 *    make a PHRASE with the terms' relative positions; none (`[sic]`, `™`)
 *    and the word is dropped;
 *  - a quoted phrase is tokenized as a whole; its relative positions keep
 *    the gaps stop words leave, so the position check stays exact; a
 *    phrase of one term is a TERM;
 *  - in a CommonGrams index (TOK_COMMONGRAMS), a phrase is matched with
 *    units: each pair of consecutive slots (relative positions r, r + 1)
 *    where either term is common becomes the bigram term at r; slots in
 *    no such pair stay single-term units.  The units match exactly where
 *    the slots do, with the same phrase frequency (every pair where a word
 *    is common was indexed, index/commongrams.h), while the slots still
 *    define the score (sum of the slot terms' idfs);
 *  - a word ending in `*` (`comput*`), whose text before the `*` is one
 *    term, is a PREFIX: every term of the index that starts with it, as
 *    if they were one term (eval.c); otherwise the `*` is punctuation as
 *    before;
 *  - a word ending in `~` or `~N` (`whale~1`), whose text before the `~`
 *    is one term, is FUZZY: every term of the index within N edits of it
 *    (index/fuzzy.h; without N, by the term's length), as one term whose
 *    neighbours count less than the word (eval.c, fuzzy_weight);
 *    otherwise the `~` is punctuation as before;
 *  - a word that is a range (`year:[1800 TO 1900]`, `date:>=2016-01-01`,
 *    parse.h qry_range_syntax) is a RANGE: the documents whose number in
 *    that field (index/values.h) lies in it.  It is a filter: it adds
 *    nothing to a score;
 *  - nested ANDs and nested ORs are flattened (scores are sums, so this
 *    changes nothing), single-child groups disappear, an AND keeps its
 *    negated children apart (AND-NOT), and an AND whose positive children
 *    were all dropped is dropped in turn.
 * A root of NULL means the query matches nothing.
 *
 * Terms are interned: each distinct term appears once in `terms`, and plan
 * nodes refer to it by index, so statistics are looked up once per query.
 */
#ifndef QUIRE_QUERY_PLAN_H
#define QUIRE_QUERY_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "quire.h"
#include "query/parse.h"

typedef enum pl_kind { PL_TERM, PL_PHRASE, PL_AND, PL_OR, PL_PREFIX, PL_FUZZY, PL_RANGE } pl_kind;

typedef struct pl_term {
    char *bytes;
    size_t len;
    int prefix;       /* stands for every term that starts with bytes */
    unsigned edits;   /* nonzero: for every term this many edits from bytes */
} pl_term;

/* Whether a word's text has the prefix syntax (`word*`), or the fuzzy
 * syntax (`word~`, `word~N`; *before: the length before the '~').  The
 * text before the '*' or '~' must still be one term for the word to be a
 * PREFIX or FUZZY. */
int qry_prefix_syntax(const char *text, size_t len);
int qry_fuzzy_syntax(const char *text, size_t len, size_t *before);

/* Whether the term stands for other terms of the index (PREFIX, FUZZY). */
static inline int pl_term_expands(const pl_term *t) { return t->prefix || t->edits; }

typedef struct pl_node {
    pl_kind kind;
    uint32_t term;          /* TERM, PREFIX, FUZZY: index into qry_plan.terms */
    uint32_t n;             /* PHRASE: slots; AND: positive kids; OR: kids */
    uint32_t *slot_term;    /* PHRASE: term of each slot, in query order */
    uint32_t *slot_rel;     /* PHRASE: position relative to the first slot */
    uint32_t nunits;        /* PHRASE: what evaluation iterates and aligns */
    uint32_t *unit_term;    /* PHRASE: term (a slot term or a bigram) */
    uint32_t *unit_rel;     /* PHRASE: relative position of the unit */
    uint32_t slop;          /* PHRASE: "..."~N (then the units are the
                               slots: a bigram stands for adjacency) */
    double boost;           /* TERM, PREFIX, FUZZY, PHRASE: word^B or
                               "..."^B multiplies its score; 0 = none */
    char *field;            /* RANGE: the field's name (owned) */
    size_t field_len;
    double lo, hi;          /* RANGE: lo <= value <= hi */
    struct pl_node **kids;  /* AND (positive) and OR children */
    struct pl_node **nots;  /* AND: excluded children */
    uint32_t nnots;
} pl_node;

typedef struct qry_plan {
    pl_node *root;          /* NULL: nothing can match */
    pl_term *terms;
    size_t nterms;
} qry_plan;

/* Plans the parsed query for an index tokenized with `tok_flags`.
 * Returns QUIRE_OK, QUIRE_ENOMEM, or QUIRE_EARG for unknown flags. */
int qry_plan_build(const qry_node *root, uint32_t tok_flags, qry_plan **out,
                   quire_error *err);
void qry_plan_free(qry_plan *p);

/* Parses and plans in one step (the common path of every entry point). */
int qry_plan_text(const char *q, size_t qlen, uint32_t tok_flags,
                  qry_plan **out, quire_error *err);

/* S-expression of the plan, e.g. (AND (TERM cat) (PHRASE new@0 york@1)
 * (NOT (TERM dog))); "(NONE)" for an empty plan.  A phrase whose units are
 * not its slots lists the units after a colon, bigrams as first+second:
 * (PHRASE the@0 cat@1 : the+cat@0).  Same conventions as qry_ast_dump. */
size_t qry_plan_dump(const qry_plan *p, char *buf, size_t cap);

#endif
