/*
 * writer.c — the public writing API (quire_writer_*): one writer per index
 * directory at a time (an flock on DIR/LOCK, which a second writer fails
 * on or waits for: lock_wait_ms), documents inverted by one or
 * more builder "lanes" and flushed as segments whenever a lane's share of
 * the memory budget is reached, ids deduplicated (the later document wins;
 * the earlier one is marked in a deletion bitmap, as is a document deleted
 * by id), and an atomic commit that
 * publishes the new segments and deletion files through a new MANIFEST.
 *
 * Lanes.  With one thread the caller's thread tokenizes and inverts each
 * document as it is added, and doc numbers follow insertion order.  With N
 * threads, the caller copies documents into batches dealt round-robin to N
 * lanes, each a thread with its own tokenizer, builder and segments; a lane
 * flushes its own segments when its budget share is reached, so the whole
 * build runs in parallel.  At a commit the lanes' last builders are
 * written together, as one segment, by all their threads (a joint flush,
 * idx_builder_flush_joint): its documents are lane 0's, then lane 1's, and
 * so on; unless the lanes flushed at their budget since the last commit,
 * and then each lane's is a segment of its own, written by a thread each
 * (commit_flush).  Every document gets a sequence number in insertion order;
 * deduplication is decided in the caller's thread on sequence numbers (so
 * "the later one wins" holds whatever the threads' timing), and at commit
 * the new segments are ordered by their least sequence number, which
 * makes the result the same on every run.
 *
 * Stealing.  Lanes reach a commit apart (the caller's thread shares a
 * core with one of them, and the input is dealt by size, not by work), and
 * the first to finish would idle while the others build.  Instead it
 * takes the end of the queue of the lane with the most text left and
 * builds it into a builder of its own, which the joint flush places right
 * after that lane's: the segment is the one the lane would have written.
 * For that no lane takes a budget flush in its last few batches before a
 * commit (lane->tail, at most STEAL_BATCHES; which batches those are
 * depends on the input alone), so they always belong to the joint
 * segment, and only they are taken.
 *
 * Merges: a commit that added one segment may merge runs of small
 * segments (merge_policy); quire_writer_optimize merges them all.
 *
 * Crash safety: segment and deletion files are complete and fsynced before
 * the MANIFEST that names them is renamed into place, and files of the old
 * generation are removed only after.  Files no MANIFEST names (left by a
 * killed build) are removed when the next writer opens the directory,
 * after the segments it names have opened.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "index/builder.h"
#include "index/fileio.h"
#include "index/manifest.h"
#include "index/merge.h"
#include "index/rebuild.h"
#include "index/segread.h"
#include "index/util.h"

#define DEFAULT_BUDGET ((size_t)256 << 20)
#define MAX_THREADS 64
#define BATCH_BYTES ((size_t)1 << 20)  /* text per batch handed to a lane */
#define BATCH_DOCS 4096
/* Batches per lane.  Batches are dealt to lanes in turn (so that the same
 * input makes the same segments on every run), so the caller can run
 * ahead of the slowest lane only as far as its queue reaches; with one
 * queued batch, when lanes flushed apart, the other lane starved for most
 * of every flush.  During a joint flush the caller fills the queues. */
#define LANE_BATCHES 16
/* The most batches at the end of a lane's input another lane may take at
 * a commit (see "Stealing" above).  At most LANE_BATCHES - 2: a lane that
 * must know whether it is there waits for that many more batches.  A lane
 * whose budget is less than 16 batches' text takes fewer (lane->tail),
 * none under 16 MiB, as that much text builds past the budget. */
#define STEAL_BATCHES 8
/* Queued batches per lane while no lane is at its budget.  Deep queues are
 * needed only around a budget flush (above) and while a lane waits to know
 * whether it is in its tail; the rest of the time the caller outruns the
 * lanes, and filling all LANE_BATCHES buffers touched 16 MiB of fresh
 * memory per lane: on corpus/cache/all.jsonl, which takes 32 batches, every
 * buffer was used once and its pages were 40% of a two-thread build's
 * page faults. */
#define QUEUE_SHALLOW 3
#define NO_BATCH UINT64_MAX
#define LOCK_NAME "LOCK"

/* A committed segment: open for id lookups, with its deletion bitmap. */
typedef struct cseg {
    manifest_seg ms;
    idx_segment *seg;
    uint64_t *del;         /* NULL when nothing is deleted */
    int dirty;             /* deletions changed in this session */
} cseg;

/* A segment written in this session, not yet committed. */
typedef struct nseg {
    char name[NAME_MAX_LEN];
    uint32_t ndocs;
    /* sequence number of each local doc: ascending within each part, a
     * part per lane of a joint flush; part p ends at part_end[p] */
    uint64_t *seqs;
    uint32_t *part_end; uint32_t nparts;
    uint64_t first;        /* the least sequence number */
} nseg;

/* A batch of documents copied for a lane: all bytes in one buffer, the
 * documents as offsets into it (the buffer may move while it fills). */
typedef struct bdoc {
    uint64_t seq;
    size_t id_mem;         /* the writer's id_mem when the document came */
    size_t off;            /* id, title, body, then name/value pairs */
    size_t id_len, title_len, body_len, nfields;
} bdoc;

typedef struct batch {
    char *buf; size_t len, cap;
    bdoc *docs; size_t n, cap_docs;
    size_t *flens; size_t nflens, cap_flens; /* field name/value lengths */
    int flush;             /* after the documents: flush the lane */
    uint64_t no;           /* of the lane's batches since the last commit */
} batch;

typedef struct quire_writer quire_writer_t;

typedef struct lane {
    quire_writer_t *w;
    idx_builder *b;        /* current builder, NULL between segments */
    idx_builder *spare;    /* flushed at the budget, kept for the next segment */
    char cur_name[NAME_MAX_LEN];
    uint32_t index;        /* of the lane, for its segment numbers */
    uint32_t nstarted;     /* builders started since the last commit */
    uint64_t *seqs; size_t nseqs, cap_seqs;
    nseg *done; size_t ndone, cap_done;  /* flushed segments */
    size_t budget;
    int rc;                /* first error of the lane */
    quire_error err;
    /* thread mode */
    pthread_t th;
    int has_thread;
    batch bufs[LANE_BATCHES];   /* one filling, one being built, the rest queued */
    batch *fill;           /* being filled by the caller */
    batch *queue[LANE_BATCHES];  /* handed over, not yet taken, oldest at qhead */
    unsigned qhead, qlen;
    batch *free_list[LANE_BATCHES];
    int nfree;
    int busy, quit, cv_init;
    pthread_cond_t cv;     /* pending changed / busy changed / quit */
    uint64_t nsub;         /* batches handed over since the last commit */
    uint64_t flush_no;     /* the commit's batch; NO_BATCH: not handed over */
    uint64_t cur_no;       /* the batch being built */
    batch *running;        /* taken from the queue, its flush flag not yet read */
    size_t run_done;       /* documents of `running` built (atomic, relaxed) */
    uint64_t tail;         /* batches at the end that take no budget flush */
    unsigned qdeep;        /* queued batches while a lane is near its budget */
    size_t queue_mem;      /* bytes of input its batches may hold at most */
    uint64_t tail_from;    /* the first batch known to be among them, or NO_BATCH */
    int deep;              /* near its budget: counted in w->ndeep (lane_deepen) */
    /* the end of another lane's input, taken at a commit (lane_steal) */
    idx_builder *steal;
    struct lane *victim;
    uint64_t steal_no;     /* the first batch taken, numbered as the victim's */
    uint64_t *steal_seqs; size_t nsteal, cap_steal;
} lane;

/* id -> sequence number of the live document with that id (this session).
 * 8 bytes, the id's place in id_bytes kept by sequence number (id_at),
 * not in the slot: the table is one slot per two documents of the session
 * (a quarter to a half of it used), and on corpus/cache/big.jsonl (1.76 M
 * documents) its 16-byte slots made it 64 MiB, counted in the memory
 * budget and taken fresh as it doubled (0.17-0.21 s of the caller's
 * thread for the last doubling, on the benchmark's VM, while the lanes
 * waited for batches).  So a session takes at most 2^32 - 1 documents
 * (Lucene's whole index takes 2^31) and ids are shorter than 16 MiB;
 * quire_writer_add refuses a document beyond either, before adding it. */
typedef struct id_ent {
    uint32_t hash;   /* id_hash (odd); 0: an empty slot */
    uint32_t seq;
} id_ent;
#define ID_LEN_BITS 24
#define ID_LEN_MAX ((1u << ID_LEN_BITS) - 1)

struct quire_writer {
    char *dir;
    int lock_fd;
    manifest m;
    size_t budget;
    int contentless;       /* quire_writer_options.contentless */
    cseg *csegs; size_t ncsegs;
    lane *lanes; size_t nlanes;
    size_t next_lane;
    size_t ndealt;         /* batches dealt since the open or last commit */
    size_t batch_limit;    /* bytes that end the filling batch: batch_bytes */
    size_t ndeep;          /* lanes near their budget: queues may fill (under mu) */
    pthread_mutex_t mu;    /* the lanes' queues, and what follows */
    int mu_init;
    /* The commit's joint flush (lanes_meet) */
    pthread_cond_t jcv;    /* arrivals and flushes changed */
    int jcv_init;
    size_t jarrived;       /* lanes waiting for the joint flush */
    uint64_t jgen;         /* joint flushes done */
    int jfail;             /* a lane failed: the others stop waiting */
    uint64_t nseq;         /* documents added in this session */
    uint64_t *dead; size_t ndead, cap_dead;  /* replaced or deleted sequence numbers */
    id_ent *ids; size_t nids, ids_mask;
    char *id_bytes; size_t id_len, id_cap;
    /* by sequence number from ids_seq0 (the session's first, or the first
     * since the last commit) on, for documents with an id: offset in
     * id_bytes << ID_LEN_BITS | id length (huge_grow, id_at_cap bytes) */
    uint64_t *id_at; size_t id_at_cap;
    uint64_t ids_seq0;
    /* the same numbering: session documents deleted (quire_writer_delete),
     * a bit each (huge_grow, gone_cap bytes; NULL until one is) */
    uint64_t *gone; size_t gone_cap;
    /* bytes of ids, id_bytes and id_at: the lanes' budgets leave room for them.
     * Lanes take it from each document (bdoc.id_mem), as it was when the
     * document came: read while the caller's thread went on, it made the
     * flush points, and the index, differ from run to run. */
    size_t id_mem;
    uint64_t docs, bytes;
    int broken;            /* a failure leaves the session unusable */
    uint64_t stolen;       /* batches lanes took from others (lane_steal) */
    int no_steal;          /* idx_writer_no_steal */
    /* With lanes, a document the caller did not ask about (replaced NULL)
     * is deduplicated when the next one comes, or at the commit: its
     * slot in the id table, fetched when it came, has arrived by then
     * (quire_writer_add) */
    int pend;
    uint64_t pend_seq;
    uint32_t pend_hash;
    char *pend_id; size_t pend_len, pend_cap;
    /* opened by idx_writer_open_rebuild: the committed segments are not
     * the session's; its first commit publishes what it added alone and
     * then removes every file the new MANIFEST does not name */
    int rebuild;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    return grow_array(p, cap, need, elem, 16);
}

/* Removes files a previous killed writer may have left: anything that looks
 * like ours and that the MANIFEST does not name. */
static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Takes the directory's writer lock (flock on DIR/LOCK, released by the
 * kernel when its holder exits, killed or not), waiting up to wait_ms for
 * another writer to let go.  flock cannot wait with a time limit, so the
 * attempts are spaced out, first by a few ms (a writer that is about to
 * close is not waited for long), then by up to 100 ms, as SQLite's busy
 * handler does. */
static int take_lock(int fd, const char *dir, uint32_t wait_ms, quire_error *err)
{
    static const uint16_t pause_ms[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    const size_t npause = sizeof pause_ms / sizeof *pause_ms;
    const uint64_t t0 = now_us(), limit = (uint64_t)wait_ms * 1000;
    for (unsigned k = 0;; k++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return QUIRE_OK;
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK)
            return qerr(err, QUIRE_EIO, "%s: cannot lock: %s", dir, strerror(errno));
        uint64_t waited = now_us() - t0;
        if (wait_ms != QUIRE_WAIT_FOREVER && waited >= limit) {
            if (wait_ms == 0)
                return qerr(err, QUIRE_ELOCKED, "%s: another writer has the index open", dir);
            return qerr(err, QUIRE_ELOCKED,
                        "%s: another writer has the index open (waited %llu ms)", dir,
                        (unsigned long long)(waited / 1000));
        }
        uint64_t p = (uint64_t)pause_ms[k < npause ? k : npause - 1] * 1000;
        if (wait_ms != QUIRE_WAIT_FOREVER && waited + p > limit) p = limit - waited;
        struct timespec ts = {.tv_sec = (time_t)(p / 1000000), .tv_nsec = (long)(p % 1000000) * 1000};
        nanosleep(&ts, NULL); /* woken early by a signal: one more attempt, no harm */
    }
}

/* Whether a segment the MANIFEST names is not in the directory.  A
 * rebuild then reads the segment files found instead, as for an
 * unreadable MANIFEST: one older than the segments (restored from a
 * backup) names segments merged away since, and the files holding the
 * index are those it does not name, which the rebuild would remove
 * unread once it published. */
static int names_missing(const quire_writer *w)
{
    for (size_t i = 0; i < w->m.nsegs; i++) {
        char *p = path_join(w->dir, w->m.segs[i].name);
        int gone = p && access(p, F_OK) != 0 && errno == ENOENT;
        free(p);
        if (gone) return 1;
    }
    return 0;
}

static void remove_orphans(quire_writer *w)
{
    DIR *d = opendir(w->dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        int ours = strncmp(n, "seg_", 4) == 0 || strcmp(n, "MANIFEST.tmp") == 0;
        if (!ours) continue;
        int named = 0;
        for (size_t i = 0; i < w->m.nsegs && !named; i++)
            named = strcmp(n, w->m.segs[i].name) == 0 || strcmp(n, w->m.segs[i].del) == 0;
        if (!named) {
            char *p = path_join(w->dir, n);
            if (p) unlink(p);
            free(p);
        }
    }
    closedir(d);
}

/* Opens a committed segment for the writer, which reads its ids and,
 * when it merges, its sections from start to end.  The pages of the
 * dictionary that the open read (the first key of every block) are
 * dropped from the process: they stay in the page cache for a merge, and
 * mapped, the segments a commit opens at a small budget were most of a
 * build's peak resident memory (56 segments at --mem 32M on 300 MB of
 * corpus/cache/big.jsonl: 102 MB peak, 82 MB without). */
static int cseg_open(const char *dir, const char *name, int verify, idx_segment **out,
                     quire_error *err)
{
    int rc = idx_segment_open(dir, name, verify, out, err);
    if (!rc) map_drop((*out)->dict.dict, (*out)->dict.dict_len);
    return rc;
}

/* ---- lanes: building segments ------------------------------------------ */

/* Segment numbers are the lanes' own: since the last commit, lane i's
 * k-th builder writes segment next_segment + k * nlanes + i.  Numbers
 * handed out in order of the flushes made the file names of a threaded
 * build depend on the threads' timing (the contents did not); this way
 * the same input and options give the same files.  A builder that ends
 * with no document leaves its number unused. */
/* Opening the committed segments, each checked against its checksums
 * (every section but the store), by the writer's threads: one thread took
 * 57 ms for the 16 segments of a two-thread build of
 * corpus/cache/big.jsonl before `quire optimize` merged them. */
typedef struct open_task {
    quire_writer *w;
    const char *dir;
    size_t *next;          /* the next segment to open (atomic) */
    int *failed;           /* a task failed: the others stop (atomic) */
    size_t at;             /* the segment this task failed on */
    int rc;
    quire_error err;
} open_task;

static void *csegs_open_run(void *arg)
{
    open_task *t = arg;
    quire_writer *w = t->w;
    for (;;) {
        if (__atomic_load_n(t->failed, __ATOMIC_RELAXED)) break;
        size_t i = __atomic_fetch_add(t->next, 1, __ATOMIC_RELAXED);
        if (i >= w->ncsegs) break;
        cseg *s = &w->csegs[i];
        int rc = cseg_open(t->dir, s->ms.name, 1, &s->seg, &t->err);
        /* as a reader checks: doc numbers follow the MANIFEST's counts,
         * and new documents are tokenized with its flags */
        if (!rc && (s->seg->ndocs != s->ms.ndocs || s->seg->tok_flags != w->m.tok_flags))
            rc = qerr(&t->err, QUIRE_ECORRUPT, "%s: segment disagrees with MANIFEST",
                      s->ms.name);
        if (!rc && s->ms.del[0])
            rc = del_read(t->dir, s->ms.del, s->seg->ndocs, &s->del, &(uint32_t){0}, &t->err);
        if (rc) {
            t->rc = rc;
            t->at = i;
            __atomic_store_n(t->failed, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    return NULL;
}

/* Opens w->csegs[0..ncsegs) with up to `threads` threads; on failure the
 * error of the first segment that failed (the others stay open or NULL,
 * for quire_writer_free). */
static int csegs_open(quire_writer *w, const char *dir, size_t threads, quire_error *err)
{
    size_t n = threads < w->ncsegs ? threads : w->ncsegs, next = 0;
    int failed = 0;
    if (n == 0) return QUIRE_OK;
    open_task *t = calloc(n, sizeof *t);
    if (!t) return qerr(err, QUIRE_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        t[i] = (open_task){.w = w, .dir = dir, .next = &next, .failed = &failed};
    run_each(csegs_open_run, t, sizeof *t, n, NULL);
    int rc = QUIRE_OK;
    size_t first = SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        if (t[i].rc && t[i].at < first) {
            first = t[i].at;
            rc = t[i].rc;
            *err = t[i].err;
        }
    free(t);
    return rc;
}

static int lane_next_name(lane *l, quire_error *err)
{
    quire_writer *w = l->w;
    uint64_t no = (uint64_t)w->m.next_segment + (uint64_t)l->nstarted * w->nlanes + l->index;
    if (no >= UINT32_MAX - w->nlanes ||
        snprintf(l->cur_name, sizeof l->cur_name, "seg_%06u.qseg", (unsigned)no) >=
            (int)sizeof l->cur_name)
        return qerr(err, QUIRE_EARG, "segment number overflow");
    l->nstarted++;
    return QUIRE_OK;
}

/* The lane's builder's part of its budget: what is left once the
 * session's id map (its share of it), the builder's fixed buffers and the
 * lane's queue of input have theirs, so that the whole build stays within
 * the budget (USERS.md: a build's memory budget must hold).  The id map
 * grows with every document: on corpus/cache/big.jsonl it reached 130 MB,
 * and with builders filling a 256 MiB budget on top of it, a two-thread
 * build peaked at 489 MiB.  The builder keeps at least half of its
 * budget, so that a map larger than the budget does not make a segment
 * per document: with a quarter, two threads at --mem 64M on 300 MB of
 * corpus/cache/big.jsonl wrote 114 segments (peak RSS 145 MB, most of it
 * the pages of all those segments, mapped at the commit); with half, 41
 * (97 MB). */
static size_t lane_limit(const lane *l, size_t id_mem)
{
    size_t other = id_mem / l->w->nlanes + l->queue_mem + l->cap_seqs * sizeof *l->seqs +
                   (l->b ? idx_builder_fixed_mem(l->b) : 0);
    size_t floor = l->budget / 2;
    return other < l->budget - floor ? l->budget - other : floor;
}

static int lane_start_builder(lane *l, size_t id_mem, quire_error *err)
{
    quire_writer *w = l->w;
    int rc = lane_next_name(l, err);
    if (rc) return rc;
    char *path = path_join(w->dir, l->cur_name);
    if (!path) return qerr(err, QUIRE_ENOMEM, "out of memory");
    if (l->spare) {
        /* a renewed builder keeps its memory: new pages fault in zeroed,
         * which was 3% of a one-thread build */
        rc = idx_builder_renew(l->spare, path, err);
        if (rc) idx_builder_free(l->spare);
        else l->b = l->spare;
        l->spare = NULL;
        /* what it kept beyond three quarters of what is left to it now */
        if (!rc) idx_builder_trim(l->b, lane_limit(l, id_mem) / 4 * 3);
    } else {
        rc = idx_builder_new(w->m.tok_flags, w->contentless, path, &l->b, err);
    }
    free(path);
    l->nseqs = 0;
    return rc;
}

/* Adds a segment written for lane `owner` (named as its current builder)
 * to its list: its documents' sequence numbers, builder by builder (n
 * builders, nseqs[i] documents each). */
static int record_segment(lane *owner, const uint64_t *const *seqs, const size_t *nseqs,
                          size_t n, quire_error *err)
{
    size_t ndocs = 0;
    for (size_t i = 0; i < n; i++) ndocs += nseqs[i];
    nseg s = {0};
    s.ndocs = (uint32_t)ndocs;
    s.nparts = (uint32_t)n;
    s.seqs = malloc((ndocs ? ndocs : 1) * sizeof *s.seqs);
    s.part_end = malloc((n ? n : 1) * sizeof *s.part_end);
    if (!s.seqs || !s.part_end ||
        grow((void **)&owner->done, &owner->cap_done, owner->ndone + 1, sizeof(nseg))) {
        free(s.seqs);
        free(s.part_end);
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    memcpy(s.name, owner->cur_name, sizeof s.name);
    s.first = ndocs ? UINT64_MAX : 0;
    for (size_t i = 0, at = 0; i < n; i++) {
        memcpy(s.seqs + at, seqs[i], nseqs[i] * sizeof *s.seqs);
        at += nseqs[i];
        s.part_end[i] = (uint32_t)at;
        if (nseqs[i] && seqs[i][0] < s.first) s.first = seqs[i][0];
    }
    owner->done[owner->ndone++] = s;
    return QUIRE_OK;
}

/* Writes the lane's segment.  `keep`: more documents follow (the budget
 * was reached), so the builder is kept for the next segment; otherwise (a
 * commit) its memory is released before the commit's merge needs some. */
static int lane_flush(lane *l, int keep, quire_error *err)
{
    if (!l->b) return QUIRE_OK;
    uint32_t n = idx_builder_ndocs(l->b);
    int rc = QUIRE_OK;
    if (n > 0) {
        rc = idx_builder_flush(l->b, err);
        const uint64_t *seqs = l->seqs;
        if (!rc) rc = record_segment(l, &seqs, &l->nseqs, 1, err);
        l->nseqs = 0;   /* the buffer serves the next builder */
    }
    if (keep && n > 0 && !rc) l->spare = l->b;
    else idx_builder_free(l->b);
    l->b = NULL;
    return rc;
}

/* Marks lane l as near its budget, from 3/4 of its limit on (on), or past
 * its flush (off): while any lane is, every queue may take LANE_BATCHES,
 * else QUEUE_SHALLOW. */
static void lane_deepen(lane *l, int on)
{
    quire_writer *w = l->w;
    if (!l->has_thread || l->deep == on) return;
    pthread_mutex_lock(&w->mu);
    l->deep = on;
    if (on) w->ndeep++;
    else w->ndeep--;
    /* the caller may wait on any lane's queue */
    for (size_t i = 0; on && i < w->nlanes; i++) pthread_cond_broadcast(&w->lanes[i].cv);
    pthread_mutex_unlock(&w->mu);
}

/* Whether the batch being built is among the lane's last `tail` before
 * the next commit.  It depends on the input alone but may not be known
 * yet: then the lane waits for more batches or the commit's (the caller
 * can always hand over that many: tail <= STEAL_BATCHES < LANE_BATCHES). */
static int lane_in_tail(lane *l)
{
    quire_writer *w = l->w;
    if (l->tail == 0) return 0;
    /* over the budget in the tail, every document asks again: once known,
     * the answer holds for the rest of the tail without the lock */
    if (l->cur_no >= l->tail_from) return 1;
    int r = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (l->flush_no != NO_BATCH) {
            r = l->flush_no - l->cur_no < l->tail;
            if (r) l->tail_from = l->cur_no;
            break;
        }
        if (l->nsub > l->cur_no + l->tail || l->quit || w->jfail) break;
        pthread_cond_wait(&l->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return r;
}

static int lane_add(lane *l, const quire_doc_input *d, uint64_t seq, size_t id_mem,
                    quire_error *err)
{
    int rc;
    if (!l->b && (rc = lane_start_builder(l, id_mem, err))) return rc;
    uint32_t doc;
    if ((rc = idx_builder_add(l->b, d, &doc, err))) return rc;
    if (grow((void **)&l->seqs, &l->cap_seqs, l->nseqs + 1, sizeof *l->seqs))
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    l->seqs[l->nseqs++] = seq;
    size_t limit = lane_limit(l, id_mem);
    size_t mem = idx_builder_mem(l->b);
    /* At the limit with pages kept from the last segment still unused
     * (idx_builder_trim kept them for the budget of then, and the id map
     * has grown since): they go, not the segment.  Counted as used, they
     * cut segments short: on corpus/cache/big.jsonl, after each doubling
     * of the id map, a lane flushed with 26 of its 59 MB of pool used
     * (75,000 documents where the segments around it had 170,000-200,000),
     * and two threads wrote 16 segments for the merge, now 14. */
    if (mem >= limit && idx_builder_release(l->b)) mem = idx_builder_mem(l->b);
    if (mem < limit) {
        /* At the budget the lane must see `tail` batches ahead, and the
         * caller, which deals to every lane in turn, makes them only once
         * the queues may deepen: deepened at the budget, the lanes of a
         * two-thread build of corpus/cache/big.jsonl, which reach it
         * together, both waited while the caller parsed and copied 16 MiB
         * (0.1-0.2 s of one core at each of the 3 budget flushes).  From
         * three quarters of the limit on, the caller fills the queues
         * while the lanes build. */
        if (l->tail && mem >= limit - limit / 4) lane_deepen(l, 1);
        return QUIRE_OK;
    }
    /* before lane_in_tail, which may wait for batches a shallow queue
     * would not take; in the tail it stays on until the commit */
    lane_deepen(l, 1);
    if (lane_in_tail(l)) return QUIRE_OK;
    rc = lane_flush(l, 1, err);
    lane_deepen(l, 0);
    return rc;
}

/* The file of lane l's steal builder until the joint flush, which uses
 * only its store, unless it comes first: then the segment is written
 * there and renamed. */
static char *steal_path(const lane *l)
{
    char name[NAME_MAX_LEN + 16];
    snprintf(name, sizeof name, "seg_%06u.qseg.stolen%u", (unsigned)l->w->m.next_segment,
             (unsigned)l->index);
    return path_join(l->w->dir, name);
}

/* Adds a document of another lane's input to the lane's steal builder. */
static int steal_add(lane *l, const quire_doc_input *d, uint64_t seq, quire_error *err)
{
    quire_writer *w = l->w;
    int rc;
    if (!l->steal) {
        char *path = steal_path(l);
        if (!path) return qerr(err, QUIRE_ENOMEM, "out of memory");
        rc = idx_builder_new(w->m.tok_flags, w->contentless, path, &l->steal, err);
        free(path);
        if (rc) return rc;
    }
    uint32_t doc;
    if ((rc = idx_builder_add(l->steal, d, &doc, err))) return rc;
    if (grow((void **)&l->steal_seqs, &l->cap_steal, l->nsteal + 1, sizeof *l->steal_seqs))
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    l->steal_seqs[l->nsteal++] = seq;
    return QUIRE_OK;
}

static void batch_free(batch *b)
{
    free(b->buf);
    free(b->docs);
    free(b->flens);
    memset(b, 0, sizeof *b);
}

static int batch_put(batch *b, const void *p, size_t n)
{
    if (n == 0) return 0;
    /* a batch's full size at once: grown by doubling, from the small
     * first batches up, a buffer was copied at every step */
    size_t need = b->len + n < BATCH_BYTES ? BATCH_BYTES : b->len + n;
    if (grow((void **)&b->buf, &b->cap, need, 1)) return -1;
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    return 0;
}

static int batch_add(batch *b, const quire_doc_input *d, uint64_t seq, size_t id_mem)
{
    if (grow((void **)&b->docs, &b->cap_docs, b->n + 1, sizeof *b->docs) ||
        grow((void **)&b->flens, &b->cap_flens, b->nflens + 2 * d->nfields, sizeof(size_t)))
        return -1;
    bdoc *o = &b->docs[b->n];
    o->seq = seq;
    o->id_mem = id_mem;
    o->off = b->len;
    o->id_len = d->id_len;
    o->title_len = d->title_len;
    o->body_len = d->body_len;
    o->nfields = d->nfields;
    if (batch_put(b, d->id, d->id_len) || batch_put(b, d->title, d->title_len) ||
        batch_put(b, d->body, d->body_len))
        return -1;
    for (size_t i = 0; i < d->nfields; i++) {
        if (batch_put(b, d->fields[i].name, d->fields[i].name_len) ||
            batch_put(b, d->fields[i].value, d->fields[i].value_len))
            return -1;
        b->flens[b->nflens++] = d->fields[i].name_len;
        b->flens[b->nflens++] = d->fields[i].value_len;
    }
    b->n++;
    return 0;
}

/* The commit's flush with lanes: run by lane 0's thread while the other
 * lanes wait, it writes each lane's last builder, followed by the
 * builders of what other lanes took from its end (in the order of their
 * batches: the segment the lane would have written alone), and frees them.
 *
 * When the commit makes no other segment, all of them are written as one
 * segment, named as the first lane's, by all the lanes' threads (a joint
 * flush).  Flushed apart, the lanes' last segments had to be merged
 * again: on corpus/cache/all.jsonl, where a lane makes no other segment,
 * that merge was 0.1 s of a 0.45 s two-thread build.  (Every flush made
 * jointly, at points the lanes agree on, left cores idle: at each flush
 * the serial steps, and between flushes the lanes waiting for each other.
 * A two-thread build of corpus/cache/big.jsonl took 9.6-10.4 s instead of
 * 7.9-8.5 s.)
 *
 * When the lanes flushed segments at their budget since the last commit,
 * there are several segments anyway, and each lane's is written apart, by
 * a thread each: a joint flush costs more than flushing apart (its
 * threads write to one file, whose inode lock they take in turns, and
 * the last part's positions and every part's docs and skip data are
 * copied into it at the end), and one more segment costs a merge of many
 * little more: the index phase of a two-thread build of
 * corpus/cache/big.jsonl took 7.19 s instead of 7.44 s (medians of 4). */
typedef struct flush_part {
    idx_builder **bs;      /* the segment's builders, in order */
    size_t n, threads;
    lane *owner;           /* the lane whose segment it is */
    lane *first_thief;     /* when a steal builder comes first */
    int rc;
    quire_error err;
} flush_part;

static void *flush_part_run(void *arg)
{
    flush_part *f = arg;
    f->rc = idx_builder_flush_joint(f->bs, f->n, f->threads, &f->err);
    if (!f->rc && f->first_thief) {
        /* written at the first builder's path, not a segment name */
        char *at = steal_path(f->first_thief);
        char *want = path_join(f->owner->w->dir, f->owner->cur_name);
        if (!at || !want) f->rc = qerr(&f->err, QUIRE_ENOMEM, "out of memory");
        else if (rename(at, want) != 0)
            f->rc = qerr(&f->err, QUIRE_EIO, "rename %s: %s", at, strerror(errno));
        free(at);
        free(want);
    }
    return NULL;
}

static int commit_flush(quire_writer *w, quire_error *err)
{
    idx_builder *bs[MAX_JOINT];
    const uint64_t *seqs[MAX_JOINT];
    size_t nseqs[MAX_JOINT];
    flush_part *parts = calloc(w->nlanes + 1, sizeof *parts);
    size_t n = 0, nparts = 0;
    int rc = parts ? QUIRE_OK : qerr(err, QUIRE_ENOMEM, "out of memory");
    int apart = 0;
    for (size_t i = 0; i < w->nlanes; i++) apart |= w->lanes[i].ndone > 0;
    for (size_t i = 0; i < w->nlanes && !rc; i++) {
        lane *l = &w->lanes[i];
        flush_part *f = &parts[nparts];
        *f = (flush_part){.bs = bs + n, .threads = 1, .owner = l};
        int named = l->b != NULL;
        if (l->b && idx_builder_ndocs(l->b) > 0) {
            bs[n] = l->b;
            seqs[n] = l->seqs;
            nseqs[n++] = l->nseqs;
            f->n++;
        }
        for (uint64_t after = 0;;) {
            lane *t = NULL;
            for (size_t k = 0; k < w->nlanes; k++) {
                lane *a = &w->lanes[k];
                if (a->steal && a->victim == l && a->nsteal > 0 && a->steal_no >= after &&
                    (!t || a->steal_no < t->steal_no))
                    t = a;
            }
            if (!t) break;
            after = t->steal_no + 1;
            /* without it, the lane would have started a builder for these */
            if (!named && (rc = lane_next_name(l, err))) break;
            named = 1;
            if (f->n == 0) f->first_thief = t;
            bs[n] = t->steal;
            seqs[n] = t->steal_seqs;
            nseqs[n++] = t->nsteal;
            f->n++;
        }
        if (f->n == 0) continue;
        if (apart || nparts == 0) nparts++;
        else parts[0].n += f->n;   /* one segment: the first lane's */
    }
    size_t ran = rc ? 0 : nparts;
    if (!rc && nparts == 1) parts[0].threads = w->nlanes;
    if (!rc) run_each(flush_part_run, parts, sizeof *parts, nparts, NULL);
    /* a segment written is recorded even when another failed: the
     * writer, broken then, removes the files of all it recorded */
    for (size_t p = 0, at = 0; p < ran; at += parts[p].n, p++) {
        int prc = parts[p].rc ? parts[p].rc
                              : record_segment(parts[p].owner, seqs + at, nseqs + at,
                                               parts[p].n, &parts[p].err);
        if (prc && !rc) {
            *err = parts[p].err;
            rc = prc;
        }
    }
    free(parts);
    /* released before the commit's merge needs memory, as lane_flush does */
    for (size_t i = 0; i < w->nlanes; i++) {
        lane *l = &w->lanes[i];
        idx_builder_free(l->b);
        l->b = NULL;
        l->nseqs = 0;
        idx_builder_free(l->steal);
        l->steal = NULL;
        l->victim = NULL;
        l->nsteal = 0;
    }
    return rc;
}

static int lane_run_docs(lane *l, batch *b, int stolen);

/* Text lane c has left to build (under w->mu): the rest of the batch it
 * is building and its queue. */
static size_t lane_left(lane *c)
{
    size_t left = 0;
    batch *r = c->running;
    if (r) {
        size_t d = __atomic_load_n(&c->run_done, __ATOMIC_RELAXED);
        left = r->len - (d < r->n ? r->docs[d].off : r->len);
    }
    for (unsigned k = 0; k < c->qlen; k++) left += c->queue[(c->qhead + k) % LANE_BATCHES]->len;
    return left;
}

/* At a commit, a lane that has built all of its input takes the end of
 * the queue of the lane with the most text left, as many batches (at most
 * the victim's tail) as bring their shares of that text closest to half
 * each, and builds them into its steal builder; the victim meets the
 * others after its new last batch.  A victim building a batch may lose
 * its whole queue; one between batches keeps a batch to carry the flag.
 * (Half the victim's queued batches, always leaving it one, left the two
 * lanes of corpus/cache/all.jsonl arriving 1-31 ms apart, 13 ms on
 * average over 8 runs: the batch in hand was not counted, the commit's
 * last batch is a short one, and a queue of one was not shared.)  Once
 * per commit: a second range would come before the first. */
static int lane_steal(lane *l)
{
    quire_writer *w = l->w;
    batch *got[STEAL_BATCHES] = {0};
    size_t s = 0;
    lane *v = NULL;
    size_t v_left = 0;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->nlanes; i++) {
        lane *c = &w->lanes[i];
        if (c == l || !c->tail || c->flush_no == NO_BATCH || c->qlen < (c->running ? 1u : 2u))
            continue;
        size_t left = lane_left(c);
        if (!v || left > v_left) {
            v = c;
            v_left = left;
        }
    }
    if (v && !w->jfail && !w->no_steal) {
        size_t most = v->qlen - (v->running ? 0 : 1), taken = 0, best = v_left;
        if (most > v->tail) most = v->tail;
        /* from the end: the count whose text is closest to half of it.
         * (The thief's new builder is slower, 59-77 MB/s on all.jsonl
         * against the victim's 74-98 MB/s, but aimed at 4/9 of the text
         * the arrivals were further apart: 5.7 ms on average over 14
         * runs against 3.6 ms over 13, as batches are coarse.) */
        for (size_t k = 1; k <= most; k++) {
            taken += v->queue[(v->qhead + v->qlen - k) % LANE_BATCHES]->len;
            size_t d = taken * 2 > v_left ? taken * 2 - v_left : v_left - taken * 2;
            if (d < best) {
                best = d;
                s = k;
            }
        }
        size_t docs = 0;
        for (size_t k = 0; k < s; k++) {
            got[k] = v->queue[(v->qhead + v->qlen - s + k) % LANE_BATCHES];
            docs += got[k]->n;
        }
        if (docs == 0) s = 0;   /* only the commit's batch, empty */
        w->stolen += s;
        v->qlen -= (unsigned)s;
    }
    if (s) {
        /* the victim's last batch now, read when it has built it */
        batch *last = v->qlen ? v->queue[(v->qhead + v->qlen - 1) % LANE_BATCHES] : v->running;
        last->flush = 1;
        got[s - 1]->flush = 0;
        l->victim = v;
        l->steal_no = got[0]->no;
    }
    pthread_mutex_unlock(&w->mu);
    int rc = QUIRE_OK;
    for (size_t k = 0; k < s && !rc; k++) rc = lane_run_docs(l, got[k], 1);
    if (s) {
        pthread_mutex_lock(&w->mu);
        for (size_t k = 0; k < s; k++) {
            got[k]->n = got[k]->len = got[k]->nflens = 0;
            v->free_list[v->nfree++] = got[k];
        }
        pthread_cond_broadcast(&v->cv);
        pthread_mutex_unlock(&w->mu);
    }
    return rc;
}

/* After the commit's last batch of a lane with a thread: waits for every
 * lane, then lane 0 runs the joint flush and lets the others go on. */
static int lanes_meet(lane *l)
{
    quire_writer *w = l->w;
    int rc = lane_steal(l);
    if (rc) return rc;   /* lane_main lets the others go */
    pthread_mutex_lock(&w->mu);
    w->jarrived++;
    pthread_cond_broadcast(&w->jcv);
    if (l->index != 0) {
        uint64_t gen = w->jgen;
        while (w->jgen == gen && !w->jfail) pthread_cond_wait(&w->jcv, &w->mu);
        pthread_mutex_unlock(&w->mu);
        return QUIRE_OK;
    }
    while (w->jarrived < w->nlanes && !w->jfail) pthread_cond_wait(&w->jcv, &w->mu);
    if (!w->jfail) {
        pthread_mutex_unlock(&w->mu);
        rc = commit_flush(w, &l->err);
        pthread_mutex_lock(&w->mu);
    }
    w->jarrived = 0;
    w->jgen++;
    if (rc) w->jfail = 1;
    pthread_cond_broadcast(&w->jcv);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Fetches the start of a batch's document while the one before it is
 * inverted.  The caller's thread wrote it on another core; the tokenizer
 * fetches ahead within a field (tok_fast.c), but the first lines of each
 * field were still misses: classify_avx512 and its tail variant took 369
 * ms more in a two-thread build of corpus/cache/big.jsonl (documents of
 * 600 bytes on average) than in a one-thread build. */
static inline void prefetch_doc(const batch *b, const bdoc *o)
{
    const char *p = b->buf + o->off;
    size_t n = o->id_len + o->title_len + o->body_len;
    if (n > 1024) n = 1024;
    for (size_t k = 0; k < n; k += 64) __builtin_prefetch(p + k);
}

/* Adds batch b's documents to the lane's builder, or to its steal builder. */
static int lane_run_docs(lane *l, batch *b, int stolen)
{
    size_t fl = 0;
    quire_field *fields = NULL;
    size_t fcap = 0;
    int rc = QUIRE_OK;
    for (size_t i = 0; i < b->n && !rc; i++) {
        if (!stolen) __atomic_store_n(&l->run_done, i, __ATOMIC_RELAXED);
        bdoc *o = &b->docs[i];
        const char *p = b->buf + o->off;
        if (i + 1 < b->n) prefetch_doc(b, &b->docs[i + 1]);
        quire_doc_input d = {p, o->id_len, p + o->id_len, o->title_len,
                             p + o->id_len + o->title_len, o->body_len, NULL, 0};
        p += o->id_len + o->title_len + o->body_len;
        if (o->nfields) {
            if (grow((void **)&fields, &fcap, o->nfields, sizeof *fields)) {
                rc = qerr(&l->err, QUIRE_ENOMEM, "out of memory");
                break;
            }
            for (size_t k = 0; k < o->nfields; k++) {
                size_t nl = b->flens[fl++], vl = b->flens[fl++];
                fields[k] = (quire_field){p, nl, p + nl, vl};
                p += nl + vl;
            }
            d.fields = fields;
            d.nfields = o->nfields;
        }
        rc = stolen ? steal_add(l, &d, o->seq, &l->err)
                    : lane_add(l, &d, o->seq, o->id_mem, &l->err);
    }
    free(fields);
    /* store blocks end with batches: see storew_cut */
    idx_builder *to = stolen ? l->steal : l->b;
    if (!rc && to) rc = idx_builder_cut_store(to, &l->err);
    return rc;
}

static int lane_run_batch(lane *l, batch *b)
{
    quire_writer *w = l->w;
    l->cur_no = b->no;
    int rc = lane_run_docs(l, b, 0);
    /* under the lock: a lane that takes the rest of the queue moves the
     * commit's flag onto the batch being built (lane_steal) */
    pthread_mutex_lock(&w->mu);
    int meet = b->flush;
    l->running = NULL;
    pthread_mutex_unlock(&w->mu);
    if (!rc && meet) rc = lanes_meet(l);
    if (meet) lane_deepen(l, 0);
    b->n = b->len = b->nflens = 0;
    b->flush = 0;
    return rc;
}

static void *lane_main(void *arg)
{
    lane *l = arg;
    quire_writer *w = l->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!l->qlen && !l->quit) pthread_cond_wait(&l->cv, &w->mu);
        if (!l->qlen) break;
        batch *b = l->queue[l->qhead];
        l->qhead = (l->qhead + 1) % LANE_BATCHES;
        l->qlen--;
        l->busy = 1;
        l->running = b;
        __atomic_store_n(&l->run_done, 0, __ATOMIC_RELAXED);
        pthread_cond_broadcast(&l->cv);
        int failed = l->rc != 0 || w->jfail;
        pthread_mutex_unlock(&w->mu);
        int rc = failed ? QUIRE_OK : lane_run_batch(l, b);
        pthread_mutex_lock(&w->mu);
        if (rc && !l->rc) l->rc = rc;
        if (rc) {
            w->jfail = 1;   /* no lane waits for this one any more */
            pthread_cond_broadcast(&w->jcv);
        }
        b->n = b->len = b->nflens = 0;
        b->flush = 0;
        l->running = NULL;
        l->free_list[l->nfree++] = b;
        l->busy = 0;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Hands the lane's filling batch to its thread (waiting for room). */
static void lane_submit(quire_writer *w, lane *l)
{
    pthread_mutex_lock(&w->mu);
    /* the commit's batch is never held back: a lane that has met the
     * others takes the end of a queue only once its flag is there */
    while (l->nfree == 0 ||
           (l->qlen >= (w->ndeep ? l->qdeep : QUEUE_SHALLOW) && !l->fill->flush))
        pthread_cond_wait(&l->cv, &w->mu);
    l->fill->no = l->nsub++;
    if (l->fill->flush) l->flush_no = l->fill->no;
    l->queue[(l->qhead + l->qlen) % LANE_BATCHES] = l->fill;
    l->qlen++;
    l->fill = l->free_list[--l->nfree];
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits until the lane has processed everything handed to it. */
static int lane_drain(quire_writer *w, lane *l, quire_error *err)
{
    pthread_mutex_lock(&w->mu);
    while (l->qlen || l->busy) pthread_cond_wait(&l->cv, &w->mu);
    int rc = l->rc;
    pthread_mutex_unlock(&w->mu);
    if (rc && err) *err = l->err;
    return rc;
}

static int lane_error(quire_writer *w, lane *l, quire_error *err)
{
    pthread_mutex_lock(&w->mu);
    int rc = l->rc;
    pthread_mutex_unlock(&w->mu);
    if (rc && err) *err = l->err;
    return rc;
}

static void lanes_stop(quire_writer *w)
{
    /* a lane may wait for a round another lane will never be given (no
     * commit): nothing is flushed any more */
    if (w->nlanes > 1 && w->jcv_init) {
        pthread_mutex_lock(&w->mu);
        w->jfail = 1;
        pthread_cond_broadcast(&w->jcv);
        pthread_mutex_unlock(&w->mu);
    }
    for (size_t i = 0; i < w->nlanes; i++) {
        lane *l = &w->lanes[i];
        if (!l->has_thread) continue;
        pthread_mutex_lock(&w->mu);
        l->quit = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(l->th, NULL);
        l->has_thread = 0;
    }
}

/* The first batches are small, so that every lane starts soon: with 1 MiB
 * from the first, the second lane waited for 2 MiB of the caller's input
 * (7 ms on corpus/cache/all.jsonl).  Kept in w->batch_limit, set when a
 * batch is dealt, not worked out for every document. */
static size_t batch_bytes(const quire_writer *w)
{
    size_t k = w->ndealt / w->nlanes;   /* batches each lane has had */
    return k >= 4 ? BATCH_BYTES : BATCH_BYTES >> (2 * (4 - k));
}

/* ---- open ---------------------------------------------------------------- */

/* `old` NULL: quire_writer_open.  Otherwise idx_writer_open_rebuild. */
static int writer_open(const char *dir, const quire_writer_options *opt, manifest *old,
                       int *scanned, quire_writer **out, quire_error *err)
{
    if (!dir || !out) return qerr(err, QUIRE_EARG, "dir and out are required");
    uint32_t flags = opt ? opt->tok_flags : QUIRE_TOK_DEFAULT;
    if (flags & ~(uint32_t)TOK_KNOWN_FLAGS)
        return qerr(err, QUIRE_EARG, "unknown tokenizer flags %#x", flags);
    size_t threads = opt && opt->threads ? opt->threads : 1;
    if (threads > MAX_THREADS)
        return qerr(err, QUIRE_EARG, "threads must be at most %d", MAX_THREADS);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return qerr(err, QUIRE_EIO, "mkdir %s: %s", dir, strerror(errno));
    quire_writer *w = calloc(1, sizeof *w);
    if (!w) return qerr(err, QUIRE_ENOMEM, "out of memory");
    w->lock_fd = -1;
    w->budget = opt && opt->mem_budget ? opt->mem_budget : DEFAULT_BUDGET;
    w->contentless = opt && opt->contentless;
    w->dir = strdup(dir);
    char *lock = path_join(dir, LOCK_NAME);
    int rc = QUIRE_OK;
    if (!w->dir || !lock) {
        free(lock);
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto fail;
    }
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        free(lock);
        rc = qerr(err, QUIRE_ENOMEM, "cannot create a mutex");
        goto fail;
    }
    w->mu_init = 1;
    if (pthread_cond_init(&w->jcv, NULL) != 0) {
        free(lock);
        rc = qerr(err, QUIRE_ENOMEM, "cannot create a condition variable");
        goto fail;
    }
    w->jcv_init = 1;
    w->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lock_fd < 0) {
        rc = qerr(err, QUIRE_EIO, "open %s: %s", lock, strerror(errno));
        free(lock);
        goto fail;
    }
    if ((rc = take_lock(w->lock_fd, dir, opt ? opt->lock_wait_ms : 0, err))) {
        free(lock);
        goto fail;
    }
    free(lock);
    rc = manifest_read(dir, &w->m, err);
    if (old) {
        /* under the lock, so that the generation read is the one replaced */
        *scanned = rc == QUIRE_ECORRUPT || rc == QUIRE_ENOTFOUND ? 1
                   : !rc && names_missing(w)                       ? 2
                                                                   : 0;
        if (*scanned) {
            manifest_free(&w->m);
            rc = manifest_scan(dir, &w->m, err);
        }
        if (!rc && *scanned && w->m.nsegs == 0)
            rc = qerr(err, QUIRE_ENOTFOUND, "%s: no index here (no MANIFEST, no segment)", dir);
        if (rc) goto fail;
        *old = w->m;
        w->m.segs = NULL;
        w->m.nsegs = w->m.cap = 0;
        w->m.tok_flags = flags;
        w->rebuild = 1;
    } else if (rc == QUIRE_ENOTFOUND) {
        memset(&w->m, 0, sizeof w->m);
        w->m.tok_flags = flags;
        w->m.next_segment = 1;
        rc = QUIRE_OK;
    }
    if (rc) goto fail;
    w->csegs = calloc(w->m.nsegs ? w->m.nsegs : 1, sizeof *w->csegs);
    if (!w->csegs) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < w->m.nsegs; i++) w->csegs[i].ms = w->m.segs[i];
    w->ncsegs = w->m.nsegs;
    if ((rc = csegs_open(w, dir, threads, err))) goto fail;
    /* Only once every segment the MANIFEST names has opened: a MANIFEST
     * that names files no longer there (an older one restored from a
     * backup) would otherwise have the segments that hold the index
     * removed as orphans, and the open fail after.  A rebuild reads the
     * files a scanned MANIFEST did not name. */
    if (!w->rebuild) remove_orphans(w);
    w->lanes = calloc(threads, sizeof *w->lanes);
    if (!w->lanes) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto fail;
    }
    w->nlanes = threads;
    w->batch_limit = batch_bytes(w);
    for (size_t i = 0; i < threads; i++) {
        lane *l = &w->lanes[i];
        l->w = w;
        l->index = (uint32_t)i;
        l->budget = w->budget / threads;
        l->flush_no = NO_BATCH;
        l->tail_from = NO_BATCH;
        l->tail = threads == 1 ? 0 : l->budget / (16 * BATCH_BYTES);
        if (l->tail > STEAL_BATCHES) l->tail = STEAL_BATCHES;
        /* Deep queues hold input text outside the budget: at most an
         * eighth of the lane's share (USERS.md: a budget must hold), but
         * never fewer than the tail needs ahead (lane_in_tail) or than a
         * shallow queue.  Two threads at --mem 64M on the first 200 MB of
         * corpus/cache/big.jsonl, up to 14 queued MiB a lane: peak RSS
         * 153 MiB, 1.41 s; 4 now: 129 MiB, 1.37 s (medians of 3).  From
         * 128 MiB a lane (the default budget with two threads) it is 14,
         * as before. */
        l->qdeep = (unsigned)(l->budget / (8 * BATCH_BYTES));
        if (l->qdeep < l->tail + 2) l->qdeep = (unsigned)l->tail + 2;
        if (l->qdeep < QUEUE_SHALLOW) l->qdeep = QUEUE_SHALLOW;
        if (l->qdeep > LANE_BATCHES - 2) l->qdeep = LANE_BATCHES - 2;
        /* the queued batches, the one filling and the one being built */
        l->queue_mem = threads == 1 ? 0 : (l->qdeep + 2) * BATCH_BYTES;
        if (threads == 1) continue;
        if (pthread_cond_init(&l->cv, NULL) != 0) {
            rc = qerr(err, QUIRE_ENOMEM, "cannot create a condition variable");
            goto fail;
        }
        l->cv_init = 1;
        l->fill = &l->bufs[0];
        for (int k = 1; k < LANE_BATCHES; k++) l->free_list[l->nfree++] = &l->bufs[k];
        if (pthread_create(&l->th, NULL, lane_main, l) != 0) {
            rc = qerr(err, QUIRE_ENOMEM, "cannot start a builder thread");
            goto fail;
        }
        l->has_thread = 1;
    }
    *out = w;
    return QUIRE_OK;
fail:
    quire_writer_free(w);
    return rc;
}

int quire_writer_open(const char *dir, const quire_writer_options *opt,
                      quire_writer **out, quire_error *err)
{
    return writer_open(dir, opt, NULL, NULL, out, err);
}

int idx_writer_set_tok_flags(quire_writer *w, uint32_t flags, quire_error *err)
{
    if (flags & ~(uint32_t)TOK_KNOWN_FLAGS)
        return qerr(err, QUIRE_EARG, "unknown tokenizer flags %#x", flags);
    if (w->nseq || w->ncsegs)
        return qerr(err, QUIRE_EARG, "tokenizer flags are set before the first document");
    w->m.tok_flags = flags;
    return QUIRE_OK;
}

int idx_writer_open_rebuild(const char *dir, const quire_writer_options *opt, manifest *old,
                            int *scanned, quire_writer **out, quire_error *err)
{
    memset(old, 0, sizeof *old);
    *scanned = 0;
    int rc = writer_open(dir, opt, old, scanned, out, err);
    if (rc) manifest_free(old);
    return rc;
}

/* ---- id deduplication ------------------------------------------------- */

static int ids_grow(quire_writer *w)
{
    size_t size = w->ids_mask ? (w->ids_mask + 1) * 2 : 1024;
    /* one random probe per document: in 4 KiB pages, its TLB miss and
     * cache miss were 3.4% of a one-thread build */
    id_ent *n = huge_alloc(size * sizeof *n);
    if (!n) return -1;
    for (size_t i = 0; w->ids && i <= w->ids_mask; i++) {
        if (!w->ids[i].hash) continue;
        size_t h = w->ids[i].hash & (size - 1);
        while (n[h].hash) h = (h + 1) & (size - 1);
        n[h] = w->ids[i];
    }
    if (w->ids) huge_free(w->ids, (w->ids_mask + 1) * sizeof *w->ids);
    w->ids = n;
    w->ids_mask = size - 1;
    return 0;
}

/* Frees the session's id map (table, places and deletions; the id bytes
 * are kept). */
static void ids_free(quire_writer *w)
{
    if (w->ids) huge_free(w->ids, (w->ids_mask + 1) * sizeof *w->ids);
    huge_grow_free(w->id_at, w->id_at_cap);
    huge_grow_free(w->gone, w->gone_cap);
    w->ids = NULL;
    w->id_at = NULL;
    w->id_at_cap = 0;
    w->gone = NULL;
    w->gone_cap = 0;
    w->nids = w->ids_mask = 0;
}

static void id_mem_publish(quire_writer *w)
{
    /* and the sequence numbers of its documents, which the segments
     * written keep until the commit, and the deletions */
    w->id_mem = (w->ids ? (w->ids_mask + 1) * sizeof *w->ids : 0) + w->id_cap + w->id_at_cap +
                (size_t)(w->nseq - w->ids_seq0) * sizeof(uint64_t) + w->gone_cap;
}

static int mark_committed_deleted(cseg *s, uint32_t doc)
{
    if (!s->del) {
        s->del = calloc(((size_t)s->seg->ndocs + 63) / 64 + 1, 8);
        if (!s->del) return -1;
    }
    s->del[doc / 64] |= 1ull << (doc % 64);
    s->dirty = 1;
    return 0;
}

static uint32_t id_hash(const quire_doc_input *d)
{
    return (uint32_t)XXH3_64bits(d->id, d->id_len) | 1;
}

/* The session's entry for id[0, len), or NULL. */
static id_ent *session_find(quire_writer *w, const char *id, size_t len, uint32_t hash,
                            size_t *slot)
{
    size_t h = hash & w->ids_mask;
    while (w->ids[h].hash) {
        id_ent *e = &w->ids[h];
        h = (h + 1) & w->ids_mask;
        if (e->hash != hash) continue;
        uint64_t at = w->id_at[e->seq - w->ids_seq0];
        if ((at & ID_LEN_MAX) == len && memcmp(w->id_bytes + (at >> ID_LEN_BITS), id, len) == 0)
            return e;
    }
    *slot = h;   /* the empty slot that ended the probe */
    return NULL;
}

/* Whether the session's document `seq` was deleted (quire_writer_delete). */
static int session_gone(const quire_writer *w, uint64_t seq)
{
    uint64_t k = seq - w->ids_seq0;
    return w->gone && k / 8 < w->gone_cap && ((w->gone[k / 64] >> (k % 64)) & 1);
}

/* Marks the newest live committed document with id[0, len) deleted;
 * *found says whether there was one. */
static int committed_delete(quire_writer *w, const char *id, size_t len, int *found,
                            quire_error *err)
{
    *found = 0;
    for (size_t i = w->ncsegs; i-- > 0;) {
        cseg *s = &w->csegs[i];
        long old = idx_segment_find_id(s->seg, id, len);
        if (old == -2)
            return qerr(err, QUIRE_ECORRUPT, "%s: checksum mismatch in section ids", s->ms.name);
        if (old < 0) continue;
        if (s->del && ((s->del[old / 64] >> (old % 64)) & 1)) continue;
        if (mark_committed_deleted(s, (uint32_t)old))
            return qerr(err, QUIRE_ENOMEM, "out of memory");
        *found = 1;
        return QUIRE_OK;
    }
    return QUIRE_OK;
}

/* Decides, in insertion order, whether document `seq` replaces an earlier
 * one; records the earlier one as dead.  `hash` is id_hash(d). */
static int dedupe(quire_writer *w, const quire_doc_input *d, uint64_t seq, uint32_t hash,
                  int *replaced, quire_error *err)
{
    *replaced = 0;
    if (d->id_len == 0) return QUIRE_OK;
    if (((w->nids + 1) * 2 > w->ids_mask && ids_grow(w)) ||
        huge_grow((void **)&w->id_at, &w->id_at_cap, (seq - w->ids_seq0 + 1) * sizeof *w->id_at))
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    size_t h;
    id_ent *e = session_find(w, d->id, d->id_len, hash, &h);
    if (e) {
        uint64_t at = w->id_at[e->seq - w->ids_seq0];
        /* a document deleted since is no more to replace (and a committed
         * one with the id was marked when that document came) */
        if (!session_gone(w, e->seq)) {
            if (grow((void **)&w->dead, &w->cap_dead, w->ndead + 1, sizeof *w->dead))
                return qerr(err, QUIRE_ENOMEM, "out of memory");
            w->dead[w->ndead++] = e->seq;
            *replaced = 1;
        }
        e->seq = (uint32_t)seq;
        w->id_at[seq - w->ids_seq0] = at;
        return QUIRE_OK;
    }
    /* not seen in this session: a committed segment may hold it */
    int rc = committed_delete(w, d->id, d->id_len, replaced, err);
    if (rc) return rc;
    if (grow((void **)&w->id_bytes, &w->id_cap, w->id_len + d->id_len, 1))
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    memcpy(w->id_bytes + w->id_len, d->id, d->id_len);
    w->ids[h] = (id_ent){.hash = hash, .seq = (uint32_t)seq};
    w->id_at[seq - w->ids_seq0] = (uint64_t)w->id_len << ID_LEN_BITS | d->id_len;
    w->id_len += d->id_len;
    w->nids++;
    id_mem_publish(w);
    return QUIRE_OK;
}

/* ---- adding --------------------------------------------------------------- */


/* Deduplicates the document whose dedupe was put off, if any. */
static int dedupe_pending(quire_writer *w, quire_error *err)
{
    if (!w->pend) return QUIRE_OK;
    w->pend = 0;
    quire_doc_input d = {.id = w->pend_id, .id_len = w->pend_len};
    int rep;
    return dedupe(w, &d, w->pend_seq, w->pend_hash, &rep, err);
}

int quire_writer_add(quire_writer *w, const quire_doc_input *d, int *replaced,
                     quire_error *err)
{
    if (!w || !d) return qerr(err, QUIRE_EARG, "writer and document are required");
    if (w->broken) return qerr(err, QUIRE_EARG, "writer failed earlier; reopen it");
    if (d->id_len > ID_LEN_MAX)
        return qerr(err, QUIRE_EARG, "id of %zu bytes: ids must be shorter than 16 MiB",
                    d->id_len);
    if (w->id_len + d->id_len >= (size_t)1 << (64 - ID_LEN_BITS))
        return qerr(err, QUIRE_EARG, "the ids of one writer session exceed 1 TiB; commit, "
                    "close and open a new writer");
    if (w->nseq >= UINT32_MAX)
        return qerr(err, QUIRE_EARG,
                    "a writer session takes at most 2^32 - 1 documents; commit, close "
                    "and open a new writer");
    int rc, rep = 0;
    uint64_t seq = w->nseq;
    /* The id's slot is a cache miss (a random place in a table of several
     * bytes per document ever added); it is fetched now and probed after
     * the document is added, which for one lane is the whole inversion
     * later.  Probed first, it was 2.7% of a one-thread build.  Whether
     * the document replaces another does not depend on the order. */
    uint32_t hash = d->id_len ? id_hash(d) : 0;
    if (hash && w->ids) __builtin_prefetch(&w->ids[hash & w->ids_mask]);
    /* before this document is dealt: it takes the writer's id_mem as it
     * would have been without the delay, and so the same segments */
    if ((rc = dedupe_pending(w, err))) {
        w->broken = 1;
        return rc;
    }
    if (w->nlanes == 1) {
        rc = lane_add(&w->lanes[0], d, seq, w->id_mem, err);
    } else {
        lane *l = &w->lanes[w->next_lane];
        if ((rc = lane_error(w, l, err)) == QUIRE_OK) {
            if (batch_add(l->fill, d, seq, w->id_mem)) {
                rc = qerr(err, QUIRE_ENOMEM, "out of memory");
            } else if (l->fill->len >= w->batch_limit || l->fill->n >= BATCH_DOCS) {
                lane_submit(w, l);
                w->next_lane = (w->next_lane + 1) % w->nlanes;
                w->ndealt++;
                w->batch_limit = batch_bytes(w);
            }
        }
    }
    /* With one lane the slot has had the whole inversion to arrive; with
     * lanes only the copy into a batch, and the probe missed: 195 ms of
     * the caller's time in a two-thread build of corpus/cache/big.jsonl.
     * Put off by one document, the caller parses the next one meanwhile. */
    if (!rc && w->nlanes > 1 && !replaced && d->id_len) {
        if (grow((void **)&w->pend_id, &w->pend_cap, d->id_len, 1)) {
            rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        } else {
            memcpy(w->pend_id, d->id, d->id_len);
            w->pend_len = d->id_len;
            w->pend_seq = seq;
            w->pend_hash = hash;
            w->pend = 1;
        }
    } else if (!rc) {
        rc = dedupe(w, d, seq, hash, &rep, err);
    }
    if (rc) {
        w->broken = 1;
        return rc;
    }
    w->nseq++;
    if (replaced) *replaced = rep;
    w->docs++;
    w->bytes += d->title_len + d->body_len;
    return QUIRE_OK;
}

int quire_writer_delete(quire_writer *w, const char *id, size_t id_len, int *deleted,
                        quire_error *err)
{
    if (deleted) *deleted = 0;
    if (!w || (!id && id_len)) return qerr(err, QUIRE_EARG, "writer and id are required");
    if (w->broken) return qerr(err, QUIRE_EARG, "writer failed earlier; reopen it");
    if (id_len == 0) return qerr(err, QUIRE_EARG, "an empty id names no document");
    if (id_len > ID_LEN_MAX)
        return qerr(err, QUIRE_EARG, "id of %zu bytes: ids must be shorter than 16 MiB", id_len);
    /* the document added before the delete is deduplicated first */
    int rc = dedupe_pending(w, err), found = 0;
    quire_doc_input d = {.id = id, .id_len = id_len};
    uint32_t hash = id_hash(&d);
    size_t h;
    id_ent *e = !rc && w->ids ? session_find(w, id, id_len, hash, &h) : NULL;
    if (e) {
        /* added in this session: dead at the commit, like a replaced one,
         * and marked gone, so that adding the id again replaces nothing */
        uint64_t k = e->seq - w->ids_seq0;
        if (!session_gone(w, e->seq)) {
            if (huge_grow((void **)&w->gone, &w->gone_cap, (k / 64 + 1) * 8) ||
                grow((void **)&w->dead, &w->cap_dead, w->ndead + 1, sizeof *w->dead)) {
                rc = qerr(err, QUIRE_ENOMEM, "out of memory");
            } else {
                w->gone[k / 64] |= 1ull << (k % 64);
                w->dead[w->ndead++] = e->seq;
                found = 1;
            }
        }
    } else if (!rc) {
        rc = committed_delete(w, id, id_len, &found, err);
    }
    if (rc) {
        w->broken = 1;
        return rc;
    }
    if (deleted) *deleted = found;
    return QUIRE_OK;
}

uint64_t idx_writer_stolen(const quire_writer *w)
{
    return w->stolen;
}

void idx_writer_no_steal(quire_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->no_steal = 1;
    pthread_mutex_unlock(&w->mu);
}

void quire_writer_progress(const quire_writer *w, uint64_t *docs, uint64_t *bytes)
{
    if (docs) *docs = w ? w->docs : 0;
    if (bytes) *bytes = w ? w->bytes : 0;
}

/* ---- commit ----------------------------------------------------------- */

static int cmp_nseg(const void *a, const void *b)
{
    const nseg *x = *(const nseg *const *)a, *y = *(const nseg *const *)b;
    return (x->first > y->first) - (x->first < y->first);
}

/* Flushes every lane, in parallel when lanes have threads. */
static int flush_lanes(quire_writer *w, quire_error *err)
{
    if (w->nlanes == 1) return lane_flush(&w->lanes[0], 0, err);
    for (size_t i = 0; i < w->nlanes; i++) {
        lane *l = &w->lanes[i];
        l->fill->flush = 1;
        lane_submit(w, l);
    }
    int rc = QUIRE_OK;
    for (size_t i = 0; i < w->nlanes; i++) {
        int r = lane_drain(w, &w->lanes[i], rc ? NULL : err);
        if (r && !rc) rc = r;
        /* Idle now: their text goes back before a merge needs memory
         * (with two lanes, 43 MB on corpus/cache/big.jsonl).  They grow
         * again if more documents come. */
        for (size_t k = 0; k < LANE_BATCHES; k++) batch_free(&w->lanes[i].bufs[k]);
    }
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->nlanes; i++) {
        w->lanes[i].nsub = 0;
        w->lanes[i].flush_no = NO_BATCH;
        w->lanes[i].tail_from = NO_BATCH;
    }
    pthread_mutex_unlock(&w->mu);
    w->next_lane = 0;
    w->ndealt = 0;
    w->batch_limit = batch_bytes(w);
    return rc;
}

static void write_dead_bits(nseg **order, size_t n, const uint64_t *dead, size_t ndead,
                            uint64_t **bits)
{
    /* both lists ascend within a segment's part: walk each part's seqs once */
    for (size_t s = 0; s < n; s++) {
        const nseg *g = order[s];
        for (uint32_t p = 0, k = 0; p < g->nparts; k = g->part_end[p++]) {
            uint32_t end = g->part_end[p];
            for (size_t j = 0; j < ndead; j++) {
                uint64_t q = dead[j];
                while (k < end && g->seqs[k] < q) k++;
                if (k == end) break;
                if (g->seqs[k] == q && bits[s]) bits[s][k / 64] |= 1ull << (k % 64);
            }
        }
    }
}

/* Publishes the session's documents; *added: the segments it added. */
static int commit_once(quire_writer *w, size_t *added, quire_error *err)
{
    *added = 0;
    if (!w) return qerr(err, QUIRE_EARG, "writer is required");
    if (w->broken) return qerr(err, QUIRE_EARG, "writer failed earlier; reopen it");
    int rc = dedupe_pending(w, err);
    if (!rc) rc = flush_lanes(w, err);
    if (rc) {
        w->broken = 1;
        return rc;
    }
    /* the session's segments, in the order of their first document */
    size_t nnew = 0;
    for (size_t i = 0; i < w->nlanes; i++) nnew += w->lanes[i].ndone;
    /* nothing new and no committed document replaced: the published
     * generation stays (no MANIFEST written and synced for nothing, as
     * quire_writer_optimize's commit of an unchanged index did); a new
     * index is published even when empty */
    int dirty = 0;
    for (size_t i = 0; i < w->ncsegs; i++) dirty |= w->csegs[i].dirty;
    if (nnew == 0 && !dirty && w->ndead == 0 && w->m.generation > 0 && !w->rebuild)
        return QUIRE_OK;
    nseg **order = calloc(nnew + 1, sizeof *order);
    uint64_t **bits = calloc(nnew + 1, sizeof *bits);
    manifest next = w->m;
    next.segs = NULL;
    next.nsegs = next.cap = 0;
    next.generation = w->m.generation + 1;
    uint32_t rounds = 0;   /* past every number the lanes took */
    for (size_t i = 0; i < w->nlanes; i++)
        if (w->lanes[i].nstarted > rounds) rounds = w->lanes[i].nstarted;
    next.next_segment += rounds * (uint32_t)w->nlanes;
    char (*old_del)[NAME_MAX_LEN] = calloc(w->ncsegs + 1, sizeof *old_del);
    if (!order || !bits || !old_del) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < w->nlanes; i++)
        for (size_t j = 0; j < w->lanes[i].ndone; j++) order[k++] = &w->lanes[i].done[j];
    qsort(order, nnew, sizeof *order, cmp_nseg);
    if (w->ndead) qsort(w->dead, w->ndead, sizeof *w->dead, cmp_u64);
    for (size_t s = 0; s < nnew && w->ndead; s++) {
        bits[s] = calloc(((size_t)order[s]->ndocs + 63) / 64 + 1, 8);
        if (!bits[s]) {
            rc = qerr(err, QUIRE_ENOMEM, "out of memory");
            goto out;
        }
    }
    write_dead_bits(order, nnew, w->dead, w->ndead, bits);

    char name[NAME_MAX_LEN];
    for (size_t i = 0; i < w->ncsegs && !rc; i++) {
        cseg *s = &w->csegs[i];
        manifest_seg ms = s->ms;
        if (s->dirty) {
            snprintf(name, sizeof name, "%.20s.g%llu.del", ms.name,
                     (unsigned long long)next.generation);
            rc = del_write(w->dir, name, s->del, ms.ndocs, err);
            snprintf(old_del[i], NAME_MAX_LEN, "%s", ms.del);
            snprintf(ms.del, sizeof ms.del, "%s", name);
        }
        if (!rc && manifest_push(&next, &ms)) rc = qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    for (size_t s = 0; s < nnew && !rc; s++) {
        manifest_seg ms;
        memset(&ms, 0, sizeof ms);
        memcpy(ms.name, order[s]->name, sizeof ms.name);
        ms.ndocs = order[s]->ndocs;
        int any = 0;
        for (size_t q = 0; bits[s] && q < ((size_t)ms.ndocs + 63) / 64; q++) any |= bits[s][q] != 0;
        if (any) {
            snprintf(name, sizeof name, "%.20s.g%llu.del", ms.name,
                     (unsigned long long)next.generation);
            rc = del_write(w->dir, name, bits[s], ms.ndocs, err);
            snprintf(ms.del, sizeof ms.del, "%s", name);
        }
        if (!rc && manifest_push(&next, &ms)) rc = qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    if (!rc) rc = manifest_write(w->dir, &next, err);
    if (rc) goto out;
    *added = nnew;

    /* published: drop replaced deletion files, adopt the new state */
    for (size_t i = 0; i < w->ncsegs; i++) {
        if (old_del[i][0]) {
            char *p = path_join(w->dir, old_del[i]);
            if (p) unlink(p);
            free(p);
        }
    }
    cseg *nc = realloc(w->csegs, (next.nsegs + 1) * sizeof *nc);
    if (!nc) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory after commit; reopen the writer");
        goto out;
    }
    w->csegs = nc;
    for (size_t i = 0; i < w->ncsegs; i++) {
        w->csegs[i].ms = next.segs[i];
        w->csegs[i].dirty = 0;
    }
    for (size_t s = 0; s < nnew; s++) {
        cseg *c = &w->csegs[w->ncsegs];
        memset(c, 0, sizeof *c);
        c->ms = next.segs[w->ncsegs];
        c->del = bits[s];
        bits[s] = NULL;
        w->ncsegs++;
        int r = cseg_open(w->dir, c->ms.name, 0, &c->seg, err);
        if (r && !rc) rc = r;
    }
    for (size_t i = 0; i < w->nlanes; i++) {
        lane *l = &w->lanes[i];
        for (size_t j = 0; j < l->ndone; j++) {
            free(l->done[j].seqs);
            free(l->done[j].part_end);
        }
        l->ndone = 0;
        l->nstarted = 0;   /* numbered from the new next_segment on */
    }
    manifest_free(&w->m);
    w->m = next;
    next.segs = NULL;
    /* ids committed now live in segments: forget the session's map */
    ids_free(w);
    w->ids_seq0 = w->nseq;
    w->id_len = 0;
    id_mem_publish(w);
    w->ndead = 0;
    if (w->rebuild) {
        /* published: the replaced generation's files go (a crash before
         * this leaves them to the next writer's open, as orphans) */
        w->rebuild = 0;
        remove_orphans(w);
    }
out:
    if (next.segs) manifest_free(&next);
    for (size_t s = 0; bits && s < nnew; s++) free(bits[s]);
    free(bits);
    free(order);
    free(old_del);
    if (rc) w->broken = 1;
    return rc;
}

/* Merges the committed segments csegs[a, a + n) into one new segment that
 * takes their place (deleted documents dropped) and publishes the result
 * as a new generation; the inputs are removed once it is published.  On
 * failure the last generation stays published and the writer is broken,
 * as after any failed commit. */
static int merge_range(quire_writer *w, size_t a, size_t n, quire_error *err)
{
    idx_segment **segs = calloc(n, sizeof *segs);
    uint64_t **dels = calloc(n, sizeof *dels);
    manifest next = w->m;
    next.segs = NULL;
    next.nsegs = next.cap = 0;
    next.generation = w->m.generation + 1;
    manifest_seg ms;
    memset(&ms, 0, sizeof ms);
    snprintf(ms.name, sizeof ms.name, "seg_%06u.qseg", next.next_segment++);
    int rc = QUIRE_OK, made = 0;
    if (!segs || !dels) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        segs[i] = w->csegs[a + i].seg;
        dels[i] = w->csegs[a + i].del;
    }
    rc = idx_merge(w->dir, segs, dels, n, ms.name, w->m.tok_flags, (unsigned)w->nlanes,
                   &ms.ndocs, err);
    made = 1;
    for (size_t i = 0; i < w->ncsegs && !rc; i++) {
        if (i >= a && i < a + n && i != a) continue;
        if (manifest_push(&next, i == a ? &ms : &w->csegs[i].ms))
            rc = qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    if (!rc) rc = manifest_write(w->dir, &next, err);
    if (rc) goto fail;
    free(segs);
    free(dels);
    /* published: the merged segment replaces its inputs */
    for (size_t i = a; i < a + n; i++) {
        cseg *c = &w->csegs[i];
        char *p = path_join(w->dir, c->ms.name);
        if (p) unlink(p);
        free(p);
        if (c->ms.del[0] && (p = path_join(w->dir, c->ms.del))) {
            unlink(p);
            free(p);
        }
        idx_segment_close(c->seg);
        free(c->del);
    }
    memmove(&w->csegs[a + 1], &w->csegs[a + n], (w->ncsegs - a - n) * sizeof *w->csegs);
    w->ncsegs -= n - 1;
    memset(&w->csegs[a], 0, sizeof w->csegs[a]);
    w->csegs[a].ms = ms;
    manifest_free(&w->m);
    w->m = next;
    rc = cseg_open(w->dir, ms.name, 0, &w->csegs[a].seg, err);
    if (rc) w->broken = 1;
    return rc;
fail:
    if (made) {
        char *p = path_join(w->dir, ms.name);
        if (p) unlink(p);
        free(p);
    }
    free(segs);
    free(dels);
    manifest_free(&next);
    w->broken = 1;
    return rc;
}

/* The merge policy, run by a commit that added one segment: documents
 * added a few at a time, with a commit after each batch, as a mail or
 * notes tool does.  Each such commit leaves a small segment, and every
 * search reads every segment: on corpus/cache/all.jsonl indexed by 200
 * runs of `quire index`, 200 segments, the 50 two-word AND counts of
 * bench/queries/all.tsv took 6,483 us in all against 252 us in one
 * segment.  As Lucene's LogMergePolicy does, segments fall in levels by
 * file size, a factor of MERGE_FACTOR apart (all below MERGE_FLOOR in
 * one), and MERGE_FACTOR adjacent segments of one level are merged into
 * one of the next level, the lowest level first, the newest run first;
 * merges cascade.  A document is then merged about
 * log10(segment size / MERGE_FLOOR) times, and a level holds at most
 * MERGE_FACTOR - 1 segments.  Adjacent runs keep the segments in the
 * order of their documents.
 *
 * Segments of MERGE_MAX_INPUT or more are left alone: the merge runs in
 * the committing thread, and one merge then writes at most ten times that
 * much.  A build flushed at its memory budget (the default's segments are
 * 100-250 MB) is quire_writer_optimize's to merge, and so is a commit that
 * added several segments: it merges nothing, which spares a bulk build
 * that ends with an optimize copying some of its segments twice (a later
 * small commit may merge them, if they are small). */
#define MERGE_FACTOR 10
#define MERGE_FLOOR ((uint64_t)2 << 20)
#define MERGE_MAX_INPUT ((uint64_t)64 << 20)

static unsigned merge_level(uint64_t bytes)
{
    unsigned l = 0;
    for (uint64_t top = MERGE_FLOOR; bytes >= top && l < 32; top *= MERGE_FACTOR) l++;
    return l;
}

static int merge_policy(quire_writer *w, quire_error *err)
{
    for (;;) {
        size_t best = SIZE_MAX;
        unsigned best_level = UINT32_MAX;
        for (size_t a = 0; a + MERGE_FACTOR <= w->ncsegs; a++) {
            uint64_t len = w->csegs[a].seg->m.len;
            unsigned l = merge_level(len);
            size_t k = 0;
            for (; k < MERGE_FACTOR; k++) {
                uint64_t lk = w->csegs[a + k].seg->m.len;
                if (lk >= MERGE_MAX_INPUT || merge_level(lk) != l) break;
            }
            /* the lowest level, then the newest run */
            if (k == MERGE_FACTOR && l <= best_level) {
                best = a;
                best_level = l;
            }
        }
        if (best == SIZE_MAX) return QUIRE_OK;
        int rc = merge_range(w, best, MERGE_FACTOR, err);
        if (rc) return rc;
    }
}

int quire_writer_commit(quire_writer *w, quire_error *err)
{
    size_t added;
    int rc = commit_once(w, &added, err);
    if (rc || added != 1) return rc;
    quire_error e;
    if ((rc = merge_policy(w, &e)))
        return qerr(err, rc, "documents committed, but the merge of segments after the commit "
                             "failed (reopen the writer): %s", e.message);
    return QUIRE_OK;
}

int quire_writer_optimize(quire_writer *w, quire_error *err)
{
    size_t added;
    int rc = commit_once(w, &added, err);
    if (rc) return rc;
    if (w->ncsegs <= 1 && (w->ncsegs == 0 || !w->csegs[0].del)) return QUIRE_OK;
    return merge_range(w, 0, w->ncsegs, err);
}

void quire_writer_free(quire_writer *w)
{
    if (!w) return;
    lanes_stop(w);
    for (size_t i = 0; i < w->nlanes; i++) {
        lane *l = &w->lanes[i];
        idx_builder_free(l->b);
        idx_builder_free(l->spare);
        idx_builder_free(l->steal);
        free(l->steal_seqs);
        free(l->seqs);
        for (size_t j = 0; j < l->ndone; j++) {
            /* flushed but never committed: not part of the index */
            char *p = w->dir ? path_join(w->dir, l->done[j].name) : NULL;
            if (p) unlink(p);
            free(p);
            free(l->done[j].seqs);
            free(l->done[j].part_end);
        }
        free(l->done);
        for (int k = 0; k < LANE_BATCHES; k++) batch_free(&l->bufs[k]);
        if (l->cv_init) pthread_cond_destroy(&l->cv);
    }
    free(w->lanes);
    for (size_t i = 0; i < w->ncsegs; i++) {
        idx_segment_close(w->csegs[i].seg);
        free(w->csegs[i].del);
    }
    free(w->csegs);
    ids_free(w);
    free(w->id_bytes);
    free(w->dead);
    free(w->pend_id);
    manifest_free(&w->m);
    if (w->jcv_init) pthread_cond_destroy(&w->jcv);
    if (w->mu_init) pthread_mutex_destroy(&w->mu);
    if (w->lock_fd >= 0) close(w->lock_fd);
    free(w->dir);
    free(w);
}
