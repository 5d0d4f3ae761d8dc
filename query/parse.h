/*
 * parse.h — internal interface of the query parser (query/parse.c).
 *
 * The parser turns query text into a syntax tree without knowing anything
 * about the tokenizer or the index: words and phrases keep their raw bytes
 * (pointers into the caller's query string), and the planner
 * (query/plan.c) later sends them through the index's tokenizer.  Keeping
 * raw text in the tree is what leaves room for word syntaxes: they are
 * recognised in a word's bytes by the planner (prefix*, term~N, plan.c),
 * so adding one (field:term) changes the word classification step, not
 * the grammar.
 *
 * Grammar (precedence from tightest to loosest: NOT/-, AND, OR):
 *   query   := or
 *   or      := and ( "OR" and )*
 *   and     := unary ( [ "AND" ] unary )*        adjacency = AND
 *   unary   := ( "NOT" | "-" ) unary | "+" unary | primary
 *   primary := WORD | [ "title:" ] '"' text '"' [ "~" DIGITS ] | "(" or? ")"
 * A WORD is a run of bytes up to a space, '"', '(' or ')', but that a
 * range NAME:[A TO B] (qry_range_syntax) is one word with its spaces.
 * Keywords are recognised only in upper case and only as whole words.
 * `-`/`+` are operators only at the start of an item and directly followed
 * by something that starts an item (not a space, `)`, `-` or `+`); a word
 * after them is never a keyword (`-AND` excludes the word "and").
 */
#ifndef QUIRE_QUERY_PARSE_H
#define QUIRE_QUERY_PARSE_H

#include <stddef.h>

#include "quire.h"

/* The largest slop of a phrase ("a b"~N); more is taken as this. */
#define QRY_MAX_SLOP 1000u
/* The largest boost ("a b"^B, word^B); more is taken as this. */
#define QRY_MAX_BOOST 1000.0

/* A boost suffix: text[at, len) is '^', digits, and optionally '.' and
 * digits, of a value above 0.  Returns its end (len when it runs to the
 * end), with the value in *boost (at most QRY_MAX_BOOST), or `at` when it
 * is no boost. */
size_t qry_boost_at(const char *text, size_t len, size_t at, double *boost);

/* Where a word's boost suffix (word^2, word^0.5) starts, with its value in
 * *boost; `len` when it has none, or when nothing comes before it. */
size_t qry_word_boost(const char *text, size_t len, double *boost);

/* A range of a field's numbers (index/values.h): lo <= value <= hi, the
 * bounds already moved inward for exclusive ones, infinite when open. */
typedef struct qry_range {
    const char *field;      /* into the word */
    size_t field_len;
    double lo, hi;
} qry_range;

/* Whether a word (without its boost suffix) is a range:
 *   NAME:[A TO B]  NAME:{A TO B}  (inclusive [ ], exclusive { }, mixed)
 *   NAME:A..B  (inclusive)   NAME:>=A  NAME:>A  NAME:<=A  NAME:<A
 * where NAME is a letter or '_' then letters, digits, '_', '.', '-' (so a
 * time like 6:30 is never one), not "title", and A and B are numbers or
 * dates as val_parse reads them, or '*' (or nothing, around "..") for an
 * open end.  Fills *r (may be NULL) when it is. */
int qry_range_syntax(const char *text, size_t len, qry_range *r);

typedef enum qry_kind {
    QRY_WORD,    /* bare word: raw bytes, tokenized later */
    QRY_PHRASE,  /* quoted text, without the quotes */
    QRY_AND,     /* n-ary; zero children for an empty group "()" */
    QRY_OR,      /* n-ary, at least two children */
    QRY_NOT      /* one child; only meaningful beside a positive term */
} qry_kind;

typedef struct qry_node {
    qry_kind kind;
    size_t col;             /* 1-based byte column: the word, the opening
                               quote, the operator, or the '(' of a group */
    const char *text;       /* WORD/PHRASE: raw bytes inside the query */
    size_t len;
    unsigned slop;          /* PHRASE: "..."~N, 0 for an exact phrase */
    double boost;           /* PHRASE: "..."^B, 0 when none (then 1) */
    int title;              /* PHRASE: written title:"...": in an index with
                               title terms, a phrase of the title; in
                               others, as before, the word "title:" and
                               the phrase */
    struct qry_node *child; /* first child (AND/OR/NOT) */
    struct qry_node *next;  /* next sibling */
} qry_node;

typedef struct qry_ast qry_ast;

/* Parses q[0, qlen).  On success *out owns the tree (free with
 * qry_ast_free) and qry_ast_root gives its root, never NULL (an empty
 * group "()" is an AND without children; it matches nothing).  On a syntax
 * error returns QUIRE_EQUERY with err->column set (1-based byte column)
 * and a message; QUIRE_ENOMEM on allocation failure. */
int qry_parse(const char *q, size_t qlen, qry_ast **out, quire_error *err);
const qry_node *qry_ast_root(const qry_ast *a);
void qry_ast_free(qry_ast *a);

/* Writes the tree as an S-expression, e.g.
 *   (AND (TERM cat) (NOT (PHRASE a b)))
 * Phrase text is shown as its whitespace-separated words.  Always
 * NUL-terminates when cap > 0; returns the length the full dump needs
 * (like snprintf), so a result >= cap means it was truncated. */
size_t qry_ast_dump(const qry_ast *a, char *buf, size_t cap);

#endif
