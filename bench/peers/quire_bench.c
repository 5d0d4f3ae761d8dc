/*
 * quire_bench.c — Quire itself in the peer benchmark (bench/run), through
 * the public API of include/quire.h only.
 *
 * Role: the Quire side of the comparison with FTS5, Xapian and Lucene.  It
 * speaks the same protocol as the other peers (peer_common.h): `build`
 * streams the JSON Lines corpus through quire_writer_add, commits once and
 * merges to one segment with quire_writer_optimize;
 * `query` opens the index and, per query line, runs quire_count (exact) and
 * quire_search with k = 10.  Query text is built from the words in Quire's
 * own language: and -> `w1 w2` (implicit AND), or -> `w1 OR w2`, phrase ->
 * `"w1 w2 w3"`; a word that the parser could read as an operator is quoted.
 * `stats INDEXDIR` prints the bytes of each index section
 * (quire_index_stats) as key=value lines, which
 * bench/run uses to separate postings, positions and dictionary from the
 * stored documents.
 *
 * The writer uses the default options (tokenizer flags QUIRE_TOK_DEFAULT,
 * 256 MiB memory budget, documents stored); QUIRE_BENCH_MEM_MB overrides the
 * budget, QUIRE_BENCH_THREADS the threads, and QUIRE_BENCH_CONTENTLESS=1
 * keeps each document's id but not its text, as every peer here does.
 */
#include <stdint.h>

#include "quire.h"
#include "peer_common.h"

static void die(const char *what, const quire_error *e)
{
    fprintf(stderr, "quire_bench: %s: %s\n", what, e->message[0] ? e->message
                                                   : quire_strerror(e->code));
    exit(1);
}

typedef struct build_ctx {
    quire_writer *w;
    uint64_t errors;
} build_ctx;

static void add_doc(void *vctx, const peer_doc *d, uint64_t n)
{
    build_ctx *c = (build_ctx *)vctx;
    quire_doc_input in;
    memset(&in, 0, sizeof in);
    char idbuf[32];
    in.id = d->id.p;
    in.id_len = d->id.len;
    if (in.id_len == 0) { /* no id in the input: use the line number */
        in.id_len = (size_t)snprintf(idbuf, sizeof idbuf, "%llu", (unsigned long long)n);
        in.id = idbuf;
    }
    in.title = d->title.p;
    in.title_len = d->title.len;
    in.body = d->body.p;
    in.body_len = d->body.len;
    quire_error e;
    memset(&e, 0, sizeof e);
    if (quire_writer_add(c->w, &in, NULL, &e) != QUIRE_OK) {
        if (e.code != QUIRE_EINPUT)
            die("add", &e);
        if (c->errors++ < 10)
            fprintf(stderr, "quire_bench: document %llu rejected: %s\n",
                    (unsigned long long)n, e.message);
    }
}

static int build(const char *dir, const char *corpus)
{
    quire_error e;
    memset(&e, 0, sizeof e);
    quire_writer_options opt;
    memset(&opt, 0, sizeof opt);
    opt.tok_flags = QUIRE_TOK_DEFAULT;
    const char *mem = getenv("QUIRE_BENCH_MEM_MB");
    if (mem && atoi(mem) > 0)
        opt.mem_budget = (size_t)atoi(mem) << 20;
    /* builder threads (default 1, the single-thread figure of issue 4) */
    const char *thr = getenv("QUIRE_BENCH_THREADS");
    if (thr && atoi(thr) > 0)
        opt.threads = (uint32_t)atoi(thr);
    /* QUIRE_BENCH_CONTENTLESS=1: keep ids, not text, as the peers do */
    const char *cl = getenv("QUIRE_BENCH_CONTENTLESS");
    opt.contentless = cl && !strcmp(cl, "1");
    double t0 = peer_now();
    build_ctx c = {0};
    if (quire_writer_open(dir, &opt, &c.w, &e) != QUIRE_OK)
        die(dir, &e);
    uint64_t n = peer_each_doc(corpus, add_doc, &c);
    if (quire_writer_commit(c.w, &e) != QUIRE_OK)
        die("commit", &e);
    double t1 = peer_now();
    /* Merge to one segment, as the peers are finished (FTS5 optimize,
     * xapian-compact, Lucene forceMerge(1)); QUIRE_BENCH_OPTIMIZE=0 skips. */
    const char *opt_env = getenv("QUIRE_BENCH_OPTIMIZE");
    if (!(opt_env && !strcmp(opt_env, "0")) && quire_writer_optimize(c.w, &e) != QUIRE_OK)
        die("optimize", &e);
    double t2 = peer_now();
    /* counted, as the peers count closing their databases */
    quire_writer_free(c.w);
    double t3 = peer_now();
    printf("docs=%llu\nbuild_seconds=%.3f\nindex_seconds=%.3f\noptimize_seconds=%.3f\n",
           (unsigned long long)n, t3 - t0, t1 - t0, t2 - t1);
    if (c.errors)
        printf("rejected=%llu\n", (unsigned long long)c.errors);
    return 0;
}

/* Appends word w so that Quire's parser reads it as one plain word: bare
 * when it is safe (the query sets' words are lower-case letters), else as a
 * quoted one-word phrase.  Quire's quoted strings have no escapes, so a '"'
 * inside a word is dropped (the tokenizer would drop it anyway). */
static void put_word(peer_buf *b, const char *w, int in_phrase)
{
    int quote = !in_phrase &&
        (strpbrk(w, " \t\"()") || w[0] == '-' || w[0] == '+' || !strcmp(w, "AND") ||
         !strcmp(w, "OR") || !strcmp(w, "NOT"));
    if (quote)
        peer_buf_putc(b, '"');
    for (; *w; w++)
        if (*w != '"')
            peer_buf_putc(b, *w);
    if (quote)
        peer_buf_putc(b, '"');
}

/* and -> `w1 w2`, or -> `w1 OR w2`, phrase -> `"w1 w2 w3"`. */
static void query_text(const peer_query *q, peer_buf *b)
{
    int phrase = q->kind == PEER_PHRASE;
    b->len = 0;
    peer_buf_put(b, "", 0);
    if (phrase)
        peer_buf_putc(b, '"');
    for (int i = 0; i < q->nwords; i++) {
        if (i)
            peer_buf_put(b, q->kind == PEER_OR ? " OR " : " ",
                         q->kind == PEER_OR ? 4 : 1);
        put_word(b, q->words[i], phrase);
    }
    if (phrase)
        peer_buf_putc(b, '"');
}

static uint64_t run_count(quire_index *ix, const peer_buf *t)
{
    uint64_t n = 0;
    quire_error e;
    memset(&e, 0, sizeof e);
    if (quire_count(ix, t->p, t->len, &n, &e) != QUIRE_OK)
        die(t->p, &e);
    return n;
}

static size_t run_top(quire_index *ix, const peer_buf *t)
{
    quire_results *r = NULL;
    quire_error e;
    memset(&e, 0, sizeof e);
    if (quire_search(ix, t->p, t->len, 10, &r, &e) != QUIRE_OK)
        die(t->p, &e);
    size_t n = quire_results_size(r);
    for (size_t i = 0; i < n; i++)
        (void)quire_results_get(r, i);
    quire_results_free(r);
    return n;
}

static int query(const char *dir, const char *qfile, int reps)
{
    quire_index *ix = NULL;
    quire_error e;
    memset(&e, 0, sizeof e);
    if (quire_index_open(dir, &ix, &e) != QUIRE_OK)
        die(dir, &e);
    int nq;
    peer_query *qs = peer_read_queries(qfile, &nq);
    double *cu = (double *)malloc((size_t)reps * sizeof(double));
    double *tu = (double *)malloc((size_t)reps * sizeof(double));
    peer_buf t = {0};
    for (int i = 0; i < nq; i++) {
        query_text(&qs[i], &t);
        uint64_t count = run_count(ix, &t); /* untimed warm-up */
        int returned = (int)run_top(ix, &t);
        for (int r = 0; r < reps; r++) {
            double t0 = peer_now();
            run_count(ix, &t);
            cu[r] = (peer_now() - t0) * 1e6;
        }
        for (int r = 0; r < reps; r++) {
            double t0 = peer_now();
            run_top(ix, &t);
            tu[r] = (peer_now() - t0) * 1e6;
        }
        peer_print_result(&qs[i], count, cu, tu, reps, returned);
    }
    quire_index_close(ix);
    free(t.p);
    free(cu);
    free(tu);
    return 0;
}

static int stats(const char *dir)
{
    quire_index *ix = NULL;
    quire_error e;
    memset(&e, 0, sizeof e);
    if (quire_index_open(dir, &ix, &e) != QUIRE_OK)
        die(dir, &e);
    quire_stats s;
    memset(&s, 0, sizeof s);
    if (quire_index_stats(ix, &s, &e) != QUIRE_OK)
        die("stats", &e);
    printf("segments=%u\ndocs=%llu\nterms=%llu\npostings=%llu\npositions=%llu\n"
           "bytes_dict=%llu\nbytes_docs=%llu\nbytes_skip=%llu\nbytes_pos=%llu\n"
           "bytes_norms=%llu\nbytes_store=%llu\nbytes_ids=%llu\nbytes_other=%llu\n"
           "bytes_total=%llu\n",
           s.segments, (unsigned long long)s.docs, (unsigned long long)s.terms,
           (unsigned long long)s.postings, (unsigned long long)s.positions,
           (unsigned long long)s.bytes_dict, (unsigned long long)s.bytes_docs,
           (unsigned long long)s.bytes_skip, (unsigned long long)s.bytes_pos,
           (unsigned long long)s.bytes_norms, (unsigned long long)s.bytes_store,
           (unsigned long long)s.bytes_ids, (unsigned long long)s.bytes_other,
           (unsigned long long)s.bytes_total);
    quire_index_close(ix);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "stats"))
        return stats(argv[2]);
    return peer_main(argc, argv, build, query);
}
