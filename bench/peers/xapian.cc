/*
 * xapian.cc — Xapian as a peer in Quire's benchmark (bench/run).
 *
 * Role: indexes the benchmark corpus with Xapian's TermGenerator (no
 * stemmer, positions on) and answers the query file with Query objects
 * built directly — never the QueryParser, so no word can turn into an
 * operator.  Title and body go into the same unprefixed terms, as Xapian
 * applications usually do for "search everywhere"; the body starts 100
 * positions after the title so that a phrase never crosses from one into
 * the other.  After the build the database is compacted with
 * `xapian-compact` (into INDEXDIR, from INDEXDIR.build), and that time is
 * part of the build time, like FTS5's optimize and Lucene's forceMerge.
 *
 * Exact counts: an Enquire with BoolWeight and check_at_least = doc count,
 * so the count is exact, not estimated.  Top-10: BM25Weight with k1 = 1.2,
 * b = 0.75 (Xapian's defaults are k1 = 1, b = 0.5), as Quire ranks.
 * Each document's data is its external id.  Protocol: peer_common.h.
 */
#include <xapian.h>

#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "peer_common.h"

struct build_ctx {
    Xapian::WritableDatabase *db;
    Xapian::TermGenerator *tg;
};

static void add_doc(void *vctx, const peer_doc *d, uint64_t)
{
    build_ctx *c = static_cast<build_ctx *>(vctx);
    Xapian::Document doc;
    c->tg->set_document(doc);
    c->tg->index_text(std::string(d->title.p, d->title.len));
    c->tg->increase_termpos(100);
    c->tg->index_text(std::string(d->body.p, d->body.len));
    doc.set_data(std::string(d->id.p, d->id.len));
    c->db->add_document(doc);
}

static int run(const char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(2, 1); /* keep the tool's chatter off our result stream */
        execvp(argv[0], const_cast<char *const *>(argv));
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int build(const char *dir, const char *corpus)
{
    std::string tmp = std::string(dir) + ".build";
    const char *rm1[] = {"rm", "-rf", dir, tmp.c_str(), nullptr};
    run(rm1);
    double t0 = peer_now();
    uint64_t n;
    try {
        Xapian::WritableDatabase db(tmp, Xapian::DB_CREATE_OR_OVERWRITE);
        Xapian::TermGenerator tg;
        build_ctx c = {&db, &tg};
        n = peer_each_doc(corpus, add_doc, &c);
        db.commit();
        db.close();
    } catch (const Xapian::Error &e) {
        fprintf(stderr, "xapian: %s\n", e.get_description().c_str());
        return 1;
    }
    double t1 = peer_now();
    const char *compact[] = {"xapian-compact", "--multipass", "--no-renumber", tmp.c_str(),
                             dir, nullptr};
    if (run(compact) != 0) {
        fprintf(stderr, "xapian: xapian-compact failed\n");
        return 1;
    }
    const char *rm2[] = {"rm", "-rf", tmp.c_str(), nullptr};
    run(rm2);
    double t2 = peer_now();
    printf("docs=%llu\nbuild_seconds=%.3f\nindex_seconds=%.3f\ncompact_seconds=%.3f\n",
           (unsigned long long)n, t2 - t0, t1 - t0, t2 - t1);
    return 0;
}

static Xapian::Query make_query(const peer_query &q)
{
    std::vector<Xapian::Query> terms;
    for (int i = 0; i < q.nwords; i++)
        terms.emplace_back(std::string(q.words[i]));
    switch (q.kind) {
    case PEER_TERM:
        return terms[0];
    case PEER_AND:
        return Xapian::Query(Xapian::Query::OP_AND, terms.begin(), terms.end());
    case PEER_OR:
        return Xapian::Query(Xapian::Query::OP_OR, terms.begin(), terms.end());
    default:
        return Xapian::Query(Xapian::Query::OP_PHRASE, terms.begin(), terms.end(),
                             terms.size());
    }
}

static int query(const char *dir, const char *qfile, int reps)
{
    try {
        Xapian::Database db(dir);
        Xapian::doccount total = db.get_doccount();
        Xapian::Enquire counter(db), ranker(db);
        counter.set_weighting_scheme(Xapian::BoolWeight());
        counter.set_docid_order(Xapian::Enquire::DONT_CARE);
        ranker.set_weighting_scheme(Xapian::BM25Weight(1.2, 0, 1, 0.75, 0.5));
        int nq;
        peer_query *qs = peer_read_queries(qfile, &nq);
        std::vector<double> cu(reps), tu(reps);
        for (int i = 0; i < nq; i++) {
            Xapian::Query xq = make_query(qs[i]);
            counter.set_query(xq);
            ranker.set_query(xq);
            /* untimed warm-up */
            uint64_t count = counter.get_mset(0, 0, total).get_matches_estimated();
            int returned = (int)ranker.get_mset(0, 10).size();
            for (int r = 0; r < reps; r++) {
                double t0 = peer_now();
                Xapian::MSet m = counter.get_mset(0, 0, total);
                (void)m.get_matches_estimated();
                cu[r] = (peer_now() - t0) * 1e6;
            }
            for (int r = 0; r < reps; r++) {
                double t0 = peer_now();
                Xapian::MSet m = ranker.get_mset(0, 10);
                for (Xapian::MSetIterator it = m.begin(); it != m.end(); ++it)
                    (void)*it;
                tu[r] = (peer_now() - t0) * 1e6;
            }
            peer_print_result(&qs[i], count, cu.data(), tu.data(), reps, returned);
        }
    } catch (const Xapian::Error &e) {
        fprintf(stderr, "xapian: %s\n", e.get_description().c_str());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    return peer_main(argc, argv, build, query);
}
