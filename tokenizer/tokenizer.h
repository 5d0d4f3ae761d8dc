/*
 * tokenizer.h — bytes to terms.  The bottom layer of Quire: it knows nothing
 * of indexes or queries.  The same tokenizer, with the same configuration,
 * runs over documents at index time and over query words at query time.
 *
 * A tokenizer turns UTF-8 text into a stream of terms, each with a position
 * (word ordinal) and the byte span [start, end) of the text it came from.
 * Rules are documented in docs/TOKENIZER.md.
 *
 * Invariants of the emitted stream (checked by the fuzzer):
 *  - positions start at `first_pos` and increase by at most 1 per term;
 *    several terms may share a position (a compound and its first part);
 *  - spans lie inside the input and their starts never decrease;
 *  - every term is non-empty, valid UTF-8, NFKC and case folded.
 */
#ifndef QUIRE_TOKENIZER_H
#define QUIRE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* Configuration flags; the values equal the public QUIRE_TOK_* flags. */
enum {
    TOK_FOLD_DIACRITICS = 1u << 0,
    TOK_STEM_EN = 1u << 1,
    TOK_STOPWORDS_EN = 1u << 2,
    /* Not a tokenizer rule: the tokenizer ignores it.  The index builder
     * adds common-word bigrams and the query planner uses them
     * (index/commongrams.h); it lives here so it is stored and checked
     * with the other flags. */
    TOK_COMMONGRAMS = 1u << 3,
    /* Likewise: bigrams only of pairs of common words. */
    TOK_COMMONPAIRS = 1u << 4,
    /* Likewise: each title term is also indexed as a title term
     * (TOK_FIELD_MARK and the term), for title:word queries. */
    TOK_TITLE_TERMS = 1u << 5,
    TOK_KNOWN_FLAGS = (1u << 6) - 1
};

/* Modes of one run.  TOK_MODE_INDEX emits every term a document should be
 * found by: compounds as the whole and as their parts.  TOK_MODE_QUERY emits
 * only the parts (the whole is implied: a document containing the compound
 * also contains its parts at consecutive positions), so a query word like
 * `then-candidate` becomes the phrase "then candidate". */
enum { TOK_MODE_INDEX = 0, TOK_MODE_QUERY = 1 };

/* The first byte of a title term (TOK_TITLE_TERMS): a control character,
 * which the tokenizer never emits, so no title term is a word's term. */
#define TOK_FIELD_MARK '\x1e'
#define TOK_MAX_TERM_BYTES 255 /* longer terms are truncated at a code
                                  point boundary */

typedef struct tok_token {
    const char *term;   /* valid only during the callback */
    uint32_t len;       /* bytes */
    uint32_t pos;       /* position */
    size_t start, end;  /* byte span in the input */
} tok_token;

/* Returns 0 to continue, non-zero to stop the run (tok_run then returns
 * that value). */
typedef int (*tok_emit_fn)(void *ctx, const tok_token *t);

typedef struct tok_tokenizer tok_tokenizer;

/* Creates a tokenizer.  Returns 0 on success, -1 on allocation failure or
 * unknown flags.  A tokenizer is not thread-safe; create one per thread. */
int tok_new(uint32_t flags, int mode, tok_tokenizer **out);
void tok_free(tok_tokenizer *t);
uint32_t tok_flags(const tok_tokenizer *t);

/* Tokenizes text[0, len).  The first term gets position `first_pos`; on
 * return *next_pos (if not NULL) is the position a following field should
 * start from (one past the last position used, counting positions kept by
 * removed stop words).  Returns 0, or the non-zero value `emit` returned,
 * or -1 on allocation failure. */
int tok_run(tok_tokenizer *t, const char *text, size_t len,
            uint32_t first_pos, tok_emit_fn emit, void *ctx,
            uint32_t *next_pos);

/* Batched output, for a consumer that handles terms many at a time (the
 * index builder: it looks a batch's terms up together, so their cache
 * misses overlap, and a batch costs one call instead of one a term).
 * Terms are copied one after another into bytes[]; term i is
 * bytes[off[i], off[i] + len[i]) at position pos[i], and at least
 * TOK_BATCH_SLACK bytes from its start are readable (those past len[i]
 * hold anything), so its first 16 bytes load without a length check.
 * Spans are not given. */
#define TOK_BATCH_MAX 64
#define TOK_BATCH_SLACK 16
/* A batch is handed over once it holds this many bytes: then a longest
 * term and the slack still fit. */
#define TOK_BATCH_FULL (TOK_BATCH_MAX * 16)
typedef struct tok_batch {
    uint32_t n;       /* terms */
    uint32_t used;    /* bytes of bytes[] */
    uint32_t off[TOK_BATCH_MAX], len[TOK_BATCH_MAX], pos[TOK_BATCH_MAX];
    char bytes[TOK_BATCH_FULL + TOK_MAX_TERM_BYTES + TOK_BATCH_SLACK];
} tok_batch;

/* Called with each full batch and with the last one of a run (never with
 * an empty one); the batch is valid only during the call.  Returns 0 to
 * continue, non-zero to stop the run. */
typedef int (*tok_batch_fn)(void *ctx, const tok_batch *b);

/* tok_run with the terms handed over in batches: the same terms at the
 * same positions, in the same order, and the same return values and
 * *next_pos.  The batch is the tokenizer's own (allocated at the first
 * call; -1 if that fails). */
int tok_run_batch(tok_tokenizer *t, const char *text, size_t len,
                  uint32_t first_pos, tok_batch_fn fn, void *ctx,
                  uint32_t *next_pos);

#endif
