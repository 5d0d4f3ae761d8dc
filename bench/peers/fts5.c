/*
 * fts5.c — SQLite FTS5 as a peer in Quire's benchmark (bench/run).
 *
 * Role: indexes the benchmark corpus into a contentless FTS5 table
 * (content='', columns title and body, tokenizer `unicode61
 * remove_diacritics 2`, then the 'optimize' command that merges all
 * b-trees into one) and runs the query file through the C API, exact
 * count with `count(*)` and top-10 with `ORDER BY rank` (FTS5's bm25(),
 * k1 = 1.2, b = 0.75).  Query words are double-quoted FTS5 strings, so no
 * word can be read as an operator or a column filter; FTS5 phrases never
 * cross a column boundary.  Protocol and output: peer_common.h.
 *
 * The database is INDEXDIR/fts5.db.  Reads use a 1 GiB mmap and a 256 MiB
 * page cache so that warm queries are not limited by SQLite's small
 * default cache.
 */
#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "peer_common.h"

static void die(sqlite3 *db, const char *what)
{
    fprintf(stderr, "fts5: %s: %s\n", what, db ? sqlite3_errmsg(db) : "error");
    exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "fts5: %s: %s\n", sql, msg ? msg : "?");
        exit(1);
    }
}

typedef struct build_ctx {
    sqlite3 *db;
    sqlite3_stmt *ins;
} build_ctx;

static void add_doc(void *vctx, const peer_doc *d, uint64_t n)
{
    build_ctx *c = (build_ctx *)vctx;
    sqlite3_bind_int64(c->ins, 1, (sqlite3_int64)n);
    sqlite3_bind_text(c->ins, 2, d->title.p, (int)d->title.len, SQLITE_STATIC);
    sqlite3_bind_text(c->ins, 3, d->body.p, (int)d->body.len, SQLITE_STATIC);
    if (sqlite3_step(c->ins) != SQLITE_DONE)
        die(c->db, "insert");
    sqlite3_reset(c->ins);
}

static int build(const char *dir, const char *corpus)
{
    char path[4096];
    if (mkdir(dir, 0777) && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    snprintf(path, sizeof path, "%s/fts5.db", dir);
    unlink(path);
    double t0 = peer_now();
    build_ctx c = {0};
    if (sqlite3_open(path, &c.db) != SQLITE_OK)
        die(c.db, path);
    exec(c.db, "PRAGMA journal_mode=OFF");   /* a build either completes or is redone */
    exec(c.db, "PRAGMA cache_size=-262144");
    exec(c.db, "CREATE VIRTUAL TABLE t USING fts5(title, body, content='', "
               "tokenize='unicode61 remove_diacritics 2')");
    exec(c.db, "BEGIN");
    if (sqlite3_prepare_v2(c.db, "INSERT INTO t(rowid, title, body) VALUES(?,?,?)",
                           -1, &c.ins, NULL) != SQLITE_OK)
        die(c.db, "prepare insert");
    uint64_t n = peer_each_doc(corpus, add_doc, &c);
    sqlite3_finalize(c.ins);
    exec(c.db, "COMMIT");
    exec(c.db, "INSERT INTO t(t) VALUES('optimize')");
    if (sqlite3_close(c.db) != SQLITE_OK)
        die(NULL, "close");
    printf("docs=%llu\nbuild_seconds=%.3f\n", (unsigned long long)n, peer_now() - t0);
    return 0;
}

/* The FTS5 MATCH expression for a query: every word a quoted string. */
static void match_expr(const peer_query *q, peer_buf *b)
{
    b->len = 0;
    peer_buf_put(b, "", 0);
    if (q->kind == PEER_PHRASE)
        peer_buf_putc(b, '"');
    for (int i = 0; i < q->nwords; i++) {
        if (i) {
            if (q->kind == PEER_OR) peer_buf_put(b, " OR ", 4);
            else if (q->kind == PEER_AND) peer_buf_put(b, " AND ", 5);
            else peer_buf_putc(b, ' ');
        }
        if (q->kind != PEER_PHRASE)
            peer_buf_putc(b, '"');
        for (const char *s = q->words[i]; *s; s++) {
            if (*s == '"')
                peer_buf_putc(b, '"');
            peer_buf_putc(b, *s);
        }
        if (q->kind != PEER_PHRASE)
            peer_buf_putc(b, '"');
    }
    if (q->kind == PEER_PHRASE)
        peer_buf_putc(b, '"');
}

static uint64_t run_count(sqlite3 *db, sqlite3_stmt *st, const peer_buf *m)
{
    sqlite3_bind_text(st, 1, m->p, (int)m->len, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        die(db, "count");
    uint64_t n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

static int run_top(sqlite3 *db, sqlite3_stmt *st, const peer_buf *m)
{
    int rc, n = 0;
    sqlite3_bind_text(st, 1, m->p, (int)m->len, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        n++;
    if (rc != SQLITE_DONE)
        die(db, "top10");
    sqlite3_reset(st);
    return n;
}

static int query(const char *dir, const char *qfile, int reps)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/fts5.db", dir);
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        die(db, path);
    exec(db, "PRAGMA mmap_size=1073741824");
    exec(db, "PRAGMA cache_size=-262144");
    sqlite3_stmt *cnt, *top;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE t MATCH ?1", -1, &cnt,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH ?1 "
                               "ORDER BY rank LIMIT 10", -1, &top, NULL) != SQLITE_OK)
        die(db, "prepare");
    int nq;
    peer_query *qs = peer_read_queries(qfile, &nq);
    double *cu = (double *)malloc((size_t)reps * sizeof(double));
    double *tu = (double *)malloc((size_t)reps * sizeof(double));
    peer_buf m = {0};
    for (int i = 0; i < nq; i++) {
        match_expr(&qs[i], &m);
        uint64_t count = run_count(db, cnt, &m); /* untimed warm-up */
        int returned = run_top(db, top, &m);
        for (int r = 0; r < reps; r++) {
            double t0 = peer_now();
            run_count(db, cnt, &m);
            cu[r] = (peer_now() - t0) * 1e6;
        }
        for (int r = 0; r < reps; r++) {
            double t0 = peer_now();
            run_top(db, top, &m);
            tu[r] = (peer_now() - t0) * 1e6;
        }
        peer_print_result(&qs[i], count, cu, tu, reps, returned);
    }
    sqlite3_finalize(cnt);
    sqlite3_finalize(top);
    sqlite3_close(db);
    free(m.p);
    free(cu);
    free(tu);
    return 0;
}

int main(int argc, char **argv)
{
    return peer_main(argc, argv, build, query);
}
