/*
 * parse.c — query text to syntax tree (see parse.h for the grammar).
 *
 * A small lexer splits the text into words, quoted phrases, parentheses
 * and operators; a recursive-descent parser builds an n-ary tree.  The
 * parser is strict only about real syntax (parentheses, quotes, keyword
 * operators without operands, purely negative groups) and lenient about
 * everything else: punctuation inside a word (`pve-01`, `C++`, `s/s`,
 * `Alice & Bob`) is never an operator and never an error — a bare word is
 * a maximal run of bytes that are not ASCII space, '"', '(' or ')', and
 * whatever it contains is the tokenizer's business.
 *
 * Nodes come from a chunked arena owned by the qry_ast, so the tree is
 * freed in one call and node pointers stay stable while it grows.
 */
#include "query/dump.h"
#include "query/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/util.h"
#include "index/values.h"
#include <math.h>

#define NODES_PER_CHUNK 64
/* Deep nesting is legal but pointless; the limit keeps the recursive
 * descent from exhausting the stack on hostile input. */
#define MAX_DEPTH 200
/* The longest bracketed range, [A TO B] (two date-times with offsets and
 * fractions take under 100 bytes). */
#define RANGE_MAX_BYTES 256

typedef struct node_chunk {
    struct node_chunk *prev;
    size_t used;
    qry_node nodes[NODES_PER_CHUNK];
} node_chunk;

struct qry_ast {
    node_chunk *chunks;
    qry_node *root;
};

enum lex_kind {
    LX_END, LX_WORD, LX_PHRASE, LX_LPAREN, LX_RPAREN,
    LX_AND, LX_OR, LX_NOT, LX_MINUS, LX_PLUS
};

typedef struct lex_token {
    enum lex_kind kind;
    size_t off;          /* byte offset of the token's first byte */
    const char *text;    /* WORD: the word; PHRASE: inside the quotes */
    size_t len;
    unsigned slop;       /* PHRASE: its ~N */
    double boost;        /* PHRASE: its ^B, 0 for none */
} lex_token;

typedef struct parser {
    const char *q;
    size_t len;
    size_t pos;           /* next byte the lexer reads */
    lex_token tok;        /* current (peeked) token */
    int plain_word;       /* the next word follows '-'/'+': no keyword */
    int depth;
    qry_ast *ast;
    quire_error *err;
    int rc;               /* first error; QUIRE_OK while parsing goes well */
} parser;

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

/* Bytes that end a bare word. */
static int is_delim(unsigned char c)
{
    return is_space(c) || c == '"' || c == '(' || c == ')';
}

static qry_node *node_new(parser *p, qry_kind kind, size_t off)
{
    node_chunk *c = p->ast->chunks;
    if (!c || c->used == NODES_PER_CHUNK) {
        c = malloc(sizeof *c);
        if (!c) {
            p->rc = qerr(p->err, QUIRE_ENOMEM, "out of memory parsing query");
            return NULL;
        }
        c->prev = p->ast->chunks;
        c->used = 0;
        p->ast->chunks = c;
    }
    qry_node *n = &c->nodes[c->used++];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->col = off + 1;
    return n;
}

/* Records the first error only: later ones are consequences. */
static qry_node *fail(parser *p, size_t off, const char *msg)
{
    if (p->rc == QUIRE_OK)
        p->rc = qerr_col(p->err, QUIRE_EQUERY, off + 1,
                         "query error at column %zu: %s", off + 1, msg);
    return NULL;
}

/* Reads the next token into p->tok.  Sets p->rc on an unterminated
 * quote. */
static void lex(parser *p)
{
    const char *q = p->q;
    size_t n = p->len, i = p->pos;
    int plain = p->plain_word;
    p->plain_word = 0;

    while (i < n && is_space((unsigned char)q[i]))
        i++;
    lex_token *t = &p->tok;
    t->off = i;
    t->text = NULL;
    t->len = 0;
    if (i == n) {
        t->kind = LX_END;
        p->pos = i;
        return;
    }
    char c = q[i];
    if (c == '(' || c == ')') {
        t->kind = c == '(' ? LX_LPAREN : LX_RPAREN;
        p->pos = i + 1;
        return;
    }
    if (c == '"') {
        const char *close = memchr(q + i + 1, '"', n - i - 1);
        if (!close) {
            t->kind = LX_END;
            p->pos = n;
            fail(p, i, "unterminated quote: '\"' is never closed");
            return;
        }
        t->kind = LX_PHRASE;
        t->text = q + i + 1;
        t->len = (size_t)(close - (q + i + 1));
        t->slop = 0;
        p->pos = (size_t)(close - q) + 1;
        t->boost = 0;
        /* "..."~N, "..."^B, "..."~N^B: right after the quote, then the
         * end of the item; anything else after the quote (`"a b"~x`) is
         * a word, as before */
        size_t j = p->pos, k = j;
        unsigned v = 0;
        if (j + 1 < n && q[j] == '~' && q[j + 1] >= '0' && q[j + 1] <= '9') {
            for (k = j + 1; k < n && q[k] >= '0' && q[k] <= '9'; k++)
                v = v >= QRY_MAX_SLOP ? QRY_MAX_SLOP : v * 10 + (unsigned)(q[k] - '0');
        }
        double b = 0;
        size_t kb = k < n && q[k] == '^' ? qry_boost_at(q, n, k, &b) : k;
        if (kb > j && (kb == n || is_delim((unsigned char)q[kb]))) {
            t->slop = v < QRY_MAX_SLOP ? v : QRY_MAX_SLOP;
            t->boost = kb > k ? b : 0;
            p->pos = kb;
        }
        return;
    }
    if ((c == '-' || c == '+') && i + 1 < n) {
        unsigned char d = (unsigned char)q[i + 1];
        if (!is_space(d) && d != ')' && d != '-' && d != '+') {
            t->kind = c == '-' ? LX_MINUS : LX_PLUS;
            p->pos = i + 1;
            p->plain_word = 1;
            return;
        }
    }
    size_t start = i;
    while (i < n && !is_delim((unsigned char)q[i])) {
        if ((q[i] == '[' || q[i] == '{') && i > start && q[i - 1] == ':') {
            /* NAME:[A TO B] is one word, spaces and all, when it is a
             * range; otherwise the space ends the word as anywhere.  The
             * look ahead is bounded: unbounded, a query of many "a:["
             * and no bracket closing them took quadratic time. */
            size_t j = i + 1, stop = n - i > RANGE_MAX_BYTES ? i + RANGE_MAX_BYTES : n;
            while (j < stop && q[j] != ']' && q[j] != '}' && q[j] != '"' && q[j] != '(' &&
                   q[j] != ')')
                j++;
            if (j < stop && (q[j] == ']' || q[j] == '}')) {
                /* at most a boost may follow the bracket */
                size_t k = j + 1;
                while (k < n && k - j <= 32 && !is_delim((unsigned char)q[k])) k++;
                double b;
                size_t wl = qry_word_boost(q + start, k - start, &b);
                if ((k == n || is_delim((unsigned char)q[k])) &&
                    qry_range_syntax(q + start, wl, NULL)) {
                    i = k;
                    break;
                }
            }
        }
        i++;
    }
    t->kind = LX_WORD;
    t->text = q + start;
    t->len = i - start;
    p->pos = i;
    if (!plain) {
        if (t->len == 3 && memcmp(t->text, "AND", 3) == 0)
            t->kind = LX_AND;
        else if (t->len == 2 && memcmp(t->text, "OR", 2) == 0)
            t->kind = LX_OR;
        else if (t->len == 3 && memcmp(t->text, "NOT", 3) == 0)
            t->kind = LX_NOT;
    }
}

static void add_child(qry_node *parent, qry_node **tail, qry_node *c)
{
    if (*tail)
        (*tail)->next = c;
    else
        parent->child = c;
    *tail = c;
}

static qry_node *parse_or(parser *p);

static qry_node *parse_unary(parser *p)
{
    lex_token t = p->tok;
    switch (t.kind) {
    case LX_NOT:
    case LX_MINUS: {
        if (p->depth >= MAX_DEPTH)
            return fail(p, t.off, "query nested too deeply");
        lex(p);
        if (p->rc) return NULL;
        p->depth++;
        qry_node *c = parse_unary(p);
        p->depth--;
        if (p->rc) return NULL;
        if (!c)
            return fail(p, t.off, "NOT needs an operand after it");
        qry_node *n = node_new(p, QRY_NOT, t.off);
        if (!n) return NULL;
        n->child = c;
        return n;
    }
    case LX_PLUS: {
        /* Every item of an AND is required already; '+' is accepted for
         * users used to it and changes nothing.  The lexer only produces
         * LX_PLUS when an item follows. */
        lex(p);
        if (p->rc) return NULL;
        return parse_unary(p);
    }
    case LX_WORD:
    case LX_PHRASE: {
        qry_node *n = node_new(p, t.kind == LX_WORD ? QRY_WORD : QRY_PHRASE,
                               t.off);
        if (!n) return NULL;
        n->text = t.text;
        n->len = t.len;
        n->slop = t.kind == LX_PHRASE ? t.slop : 0;
        n->boost = t.kind == LX_PHRASE ? t.boost : 0;
        lex(p);
        if (p->rc) return NULL;
        /* title:"..." is one item: the word and the phrase right after */
        if (t.kind == LX_WORD && t.len == 6 && !memcmp(t.text, "title:", 6) &&
            p->tok.kind == LX_PHRASE && p->tok.off == t.off + 6) {
            n->kind = QRY_PHRASE;
            n->title = 1;
            n->text = p->tok.text;
            n->len = p->tok.len;
            n->slop = p->tok.slop;
            n->boost = p->tok.boost;
            lex(p);
            if (p->rc) return NULL;
        }
        return n;
    }
    case LX_LPAREN: {
        if (p->depth >= MAX_DEPTH)
            return fail(p, t.off, "query nested too deeply");
        lex(p);
        if (p->rc) return NULL;
        p->depth++;
        qry_node *inner = parse_or(p);
        p->depth--;
        if (p->rc) return NULL;
        if (p->tok.kind != LX_RPAREN)
            return fail(p, t.off, "unbalanced parenthesis: '(' is never closed");
        lex(p);
        if (p->rc) return NULL;
        if (!inner) {
            /* "()" — an empty group: legal, matches nothing. */
            inner = node_new(p, QRY_AND, t.off);
        }
        return inner;
    }
    default:
        return NULL;   /* END, ')', AND, OR: no operand here */
    }
}

static qry_node *parse_and(parser *p)
{
    qry_node *first = NULL, *and = NULL, *tail = NULL;
    size_t first_off = p->tok.off;
    for (;;) {
        lex_token t = p->tok;
        if (t.kind == LX_END || t.kind == LX_RPAREN || t.kind == LX_OR)
            break;
        qry_node *u;
        if (t.kind == LX_AND) {
            if (!first)
                return fail(p, t.off, "AND needs an operand before it");
            lex(p);
            if (p->rc) return NULL;
            u = parse_unary(p);
            if (p->rc) return NULL;
            if (!u)
                return fail(p, t.off, "AND needs an operand after it");
        } else {
            u = parse_unary(p);
            if (p->rc) return NULL;
        }
        if (!first) {
            first = u;
        } else {
            if (!and) {
                and = node_new(p, QRY_AND, first_off);
                if (!and) return NULL;
                add_child(and, &tail, first);
            }
            add_child(and, &tail, u);
        }
    }
    return and ? and : first;
}

static qry_node *parse_or(parser *p)
{
    qry_node *left = parse_and(p);
    if (p->rc) return NULL;
    qry_node *or = NULL, *tail = NULL;
    while (p->tok.kind == LX_OR) {
        size_t off = p->tok.off;
        if (!left)
            return fail(p, off, "OR needs an operand before it");
        lex(p);
        if (p->rc) return NULL;
        qry_node *right = parse_and(p);
        if (p->rc) return NULL;
        if (!right)
            return fail(p, off, "OR needs an operand after it");
        if (!or) {
            or = node_new(p, QRY_OR, left->col - 1);
            if (!or) return NULL;
            add_child(or, &tail, left);
        }
        add_child(or, &tail, right);
    }
    return or ? or : left;
}

/* ---- purely negative groups --------------------------------------------
 * A NOT removes documents from what its siblings in the same AND select;
 * alone (at the top, as an OR alternative, or in an AND of negatives) it
 * would have to select "every other document", which is almost never what
 * the user meant.  The check sees through nested ANDs, because
 * `cat (-dog)` means cat AND NOT dog. */

static qry_node *first_not(const qry_node *n)
{
    for (const qry_node *c = n->child; c; c = c->next) {
        if (c->kind == QRY_NOT) return (qry_node *)c;
        if (c->kind == QRY_AND) {
            qry_node *f = first_not(c);
            if (f) return f;
        }
    }
    return NULL;
}

/* Does an AND (seen through nested ANDs) have a positive item? */
static int and_has_positive(const qry_node *n)
{
    for (const qry_node *c = n->child; c; c = c->next) {
        if (c->kind == QRY_AND) {
            if (and_has_positive(c)) return 1;
        } else if (c->kind != QRY_NOT) {
            return 1;
        }
    }
    return 0;
}

static int check_negative(parser *p, const qry_node *n, int inside_and);

static int check_children(parser *p, const qry_node *n)
{
    for (const qry_node *c = n->child; c; c = c->next)
        if (check_negative(p, c, n->kind == QRY_AND))
            return 1;
    return 0;
}

static int check_negative(parser *p, const qry_node *n, int inside_and)
{
    static const char *msg =
        "NOT/'-' only excludes documents; it needs a positive term beside "
        "it in the same group (e.g. 'cat -dog')";
    switch (n->kind) {
    case QRY_WORD:
    case QRY_PHRASE:
        return 0;
    case QRY_NOT:
        if (!inside_and) {
            fail(p, n->col - 1, msg);
            return 1;
        }
        /* The excluded operand is itself a query of its own. */
        return check_negative(p, n->child, 0);
    case QRY_AND: {
        /* no positive item and no NOT either: empty groups, `()()`,
         * which drop out like words without terms */
        const qry_node *f = !inside_and && n->child && !and_has_positive(n) ? first_not(n) : NULL;
        if (f) {
            fail(p, f->col - 1, msg);
            return 1;
        }
        return check_children(p, n);
    }
    case QRY_OR:
        return check_children(p, n);
    }
    return 0;
}

size_t qry_boost_at(const char *text, size_t len, size_t at, double *boost)
{
    size_t k = at + 1, digits = 0;
    double v = 0;
    for (; k < len && text[k] >= '0' && text[k] <= '9'; k++, digits++)
        if (v < QRY_MAX_BOOST) v = v * 10 + (text[k] - '0');
    if (!digits) return at;
    if (k + 1 < len && text[k] == '.' && text[k + 1] >= '0' && text[k + 1] <= '9') {
        double scale = 0.1;
        for (k++; k < len && text[k] >= '0' && text[k] <= '9'; k++, scale /= 10)
            v += (text[k] - '0') * scale;
    }
    if (v <= 0) return at;   /* ^0 is no boost: the text stays text */
    *boost = v < QRY_MAX_BOOST ? v : QRY_MAX_BOOST;
    return k;
}

size_t qry_word_boost(const char *text, size_t len, double *boost)
{
    size_t at = len;
    while (at > 0 && text[at - 1] != '^') at--;
    if (at <= 1) return len;   /* no '^', or nothing before it */
    at--;
    return qry_boost_at(text, len, at, boost) == len ? at : len;
}

int qry_parse(const char *q, size_t qlen, qry_ast **out, quire_error *err)
{
    *out = NULL;
    if (!q && qlen)
        return qerr(err, QUIRE_EARG, "query text is NULL");
    qry_ast *ast = calloc(1, sizeof *ast);
    if (!ast)
        return qerr(err, QUIRE_ENOMEM, "out of memory parsing query");
    parser p = {.q = q, .len = qlen, .ast = ast, .err = err, .rc = QUIRE_OK};
    lex(&p);
    qry_node *root = p.rc ? NULL : parse_or(&p);
    if (!p.rc && p.tok.kind == LX_RPAREN)
        fail(&p, p.tok.off, "unbalanced parenthesis: ')' has no matching '('");
    if (!p.rc && !root)
        fail(&p, 0, "empty query");
    if (!p.rc)
        check_negative(&p, root, 0);
    if (p.rc) {
        qry_ast_free(ast);
        return p.rc;
    }
    ast->root = root;
    *out = ast;
    return QUIRE_OK;
}

const qry_node *qry_ast_root(const qry_ast *a)
{
    return a->root;
}

void qry_ast_free(qry_ast *a)
{
    if (!a) return;
    node_chunk *c = a->chunks;
    while (c) {
        node_chunk *prev = c->prev;
        free(c);
        c = prev;
    }
    free(a);
}

/* ---- S-expression dump -------------------------------------------------- */

static void dump_node(dump_buf *d, const qry_node *n)
{
    switch (n->kind) {
    case QRY_WORD:
        dump_puts(d, "(TERM ");
        dump_put(d, n->text, n->len);
        dump_puts(d, ")");
        return;
    case QRY_PHRASE: {
        dump_puts(d, n->title ? "(PHRASE title:" : "(PHRASE");
        size_t i = 0;
        while (i < n->len) {
            while (i < n->len && is_space((unsigned char)n->text[i]))
                i++;
            size_t s = i;
            while (i < n->len && !is_space((unsigned char)n->text[i]))
                i++;
            if (i > s) {
                dump_puts(d, " ");
                dump_put(d, n->text + s, i - s);
            }
        }
        if (n->slop) {
            char sl[16];
            snprintf(sl, sizeof sl, " ~%u", n->slop);
            dump_puts(d, sl);
        }
        if (n->boost) {
            char bs[32];
            snprintf(bs, sizeof bs, " ^%g", n->boost);
            dump_puts(d, bs);
        }
        dump_puts(d, ")");
        return;
    }
    case QRY_AND: dump_puts(d, "(AND"); break;
    case QRY_OR: dump_puts(d, "(OR"); break;
    case QRY_NOT: dump_puts(d, "(NOT"); break;
    }
    for (const qry_node *c = n->child; c; c = c->next) {
        dump_puts(d, " ");
        dump_node(d, c);
    }
    dump_puts(d, ")");
}

size_t qry_ast_dump(const qry_ast *a, char *buf, size_t cap)
{
    /* Reserve the terminator's byte so the text never overwrites it. */
    dump_buf d = {.buf = buf, .cap = cap ? cap - 1 : 0, .len = 0};
    if (a->root)
        dump_node(&d, a->root);
    if (cap)
        buf[d.len < cap ? d.len : cap - 1] = '\0';
    return d.len;
}

/* ---- ranges --------------------------------------------------------------- */

static int range_name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
}

/* One end of a range: *open for '*' or nothing, else its number. */
static int range_bound(const char *s, size_t n, double *v, int *open)
{
    while (n && is_space((unsigned char)*s)) s++, n--;
    while (n && is_space((unsigned char)s[n - 1])) n--;
    *open = n == 0 || (n == 1 && *s == '*');
    return *open ? 0 : val_parse(s, n, v);
}

int qry_range_syntax(const char *text, size_t len, qry_range *r)
{
    size_t c = 0;
    while (c < len && range_name_char(text[c], c == 0)) c++;
    if (c == 0 || c >= len || text[c] != ':' || (c == 5 && !memcmp(text, "title", 5)))
        return 0;
    const char *s = text + c + 1;
    size_t n = len - c - 1;
    double lo = -INFINITY, hi = INFINITY, v;
    int open, lo_open, hi_open;
    if (n >= 2 && (s[0] == '[' || s[0] == '{') && (s[n - 1] == ']' || s[n - 1] == '}')) {
        /* the word TO between spaces (a second one leaves a bound that
         * is no number) */
        size_t to = 0;
        for (size_t k = 2; k + 3 < n && !to; k++)
            if (is_space((unsigned char)s[k - 1]) && s[k] == 'T' && s[k + 1] == 'O' &&
                is_space((unsigned char)s[k + 2]))
                to = k;
        if (!to || range_bound(s + 1, to - 1, &lo, &lo_open) ||
            range_bound(s + to + 2, n - to - 3, &hi, &hi_open))
            return 0;
        if (lo_open) lo = -INFINITY;
        else if (s[0] == '{') lo = nextafter(lo, INFINITY);
        if (hi_open) hi = INFINITY;
        else if (s[n - 1] == '}') hi = nextafter(hi, -INFINITY);
    } else if (n >= 2 && (s[0] == '>' || s[0] == '<')) {
        int eq = s[1] == '=';
        if (range_bound(s + 1 + eq, n - 1 - eq, &v, &open) || open) return 0;
        if (s[0] == '>') lo = eq ? v : nextafter(v, INFINITY);
        else hi = eq ? v : nextafter(v, -INFINITY);
    } else {
        const char *dots = NULL;
        for (size_t k = 0; k + 1 < n && !dots; k++)
            if (s[k] == '.' && s[k + 1] == '.') dots = s + k;
        if (!dots) return 0;
        size_t a = (size_t)(dots - s);
        if (range_bound(s, a, &lo, &lo_open) || range_bound(dots + 2, n - a - 2, &hi, &hi_open))
            return 0;
        if (lo_open) lo = -INFINITY;
        if (hi_open) hi = INFINITY;
    }
    if (r) *r = (qry_range){text, c, lo, hi};
    return 1;
}
