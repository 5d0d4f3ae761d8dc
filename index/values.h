/*
 * values.h — per-document numbers ("doc values") for sorting: a stored
 * field whose value reads as a number or a date (val_parse) also gets
 * that number in a column of its own, one per field name, so that
 * results can be ordered by it without reading the document store.
 * Builders and merges collect columns in a val_set and encode them into
 * a segment's VALUES section (docs/FORMAT.md, "values"); readers look
 * them up through a val_view over the mapped section.
 */
#ifndef QUIRE_VALUES_H
#define QUIRE_VALUES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The number a field's value stands for, into *out: a decimal number
 * (JSON's grammar: optional '-', digits, optional fraction and exponent;
 * a leading '+' is taken too), or an ISO 8601 date or date-time
 * (YYYY-MM-DD, then optionally 'T' or ' ', HH:MM, :SS, .fraction, and
 * 'Z' or +HH:MM / -HH:MM; UTC when no offset is given) as seconds since
 * 1970-01-01T00:00:00Z.  Surrounding spaces are allowed.  Returns 0, or
 * -1 when the value is neither (or the number is not finite). */
int val_parse(const char *s, size_t n, double *out);

/* Columns being collected: per field name, the (doc, value) pairs in
 * ascending doc order. */
typedef struct val_col {
    char *name;
    uint32_t name_len;
    uint32_t *docs;
    double *vals;
    size_t n, cap;
} val_col;

typedef struct val_set {
    val_col *c;
    size_t n, cap;
    size_t last;       /* the column found last: fields come in the same order */
    size_t mem;        /* bytes held, for the builder's memory estimate */
} val_set;

/* The most columns a segment has: the values of further field names are
 * not kept.  Every column costs a bit per document of the segment
 * whether or not it has a value, so without a bound, documents each with
 * numbers under new names (possible through the library; the CLI takes
 * 32 fields a document) made the section grow as names times documents.
 * Elasticsearch bounds an index's fields at 1000 by default. */
#define VAL_MAX_COLS 256

/* Adds doc's value of field `name`.  Docs must not decrease within a
 * field; a second value for the same doc is ignored (the first field of
 * a name is the one sorted by), and so is a value of a new name once the
 * set has VAL_MAX_COLS columns.  Returns 0, or -1 when out of memory. */
int val_set_add(val_set *s, const char *name, size_t name_len, uint32_t doc, double v);
/* Adds every value of src with its doc number moved up by `base` (src's
 * docs all above dst's). */
int val_set_append(val_set *dst, const val_set *src, uint32_t base);
/* The section's bytes for a segment of ndocs documents (*len 0 and *out
 * NULL when no document has a value); the caller frees *out. */
int val_set_encode(const val_set *s, uint32_t ndocs, uint8_t **out, size_t *len);
/* Empties the set, keeping nothing. */
void val_set_free(val_set *s);

/* A column of a mapped VALUES section. */
typedef struct val_column {
    const uint8_t *name;
    uint32_t name_len;
    uint32_t kind;           /* VAL_INTS or VAL_FLOATS */
    uint32_t bits;           /* VAL_INTS: bits per value, at most 56 */
    uint32_t npresent;
    int64_t min;             /* VAL_INTS: added to every value */
    const uint8_t *present;  /* ndocs bits */
    const uint8_t *data;
} val_column;

#define VAL_INTS 1u
#define VAL_FLOATS 2u

typedef struct val_view {
    uint32_t ncols;
    uint32_t ndocs;
    val_column *cols;        /* owned, ascending by name */
} val_view;

/* Checks a section's structure (every length and bound) and indexes its
 * columns.  Returns 0, -1 out of memory, -2 malformed. */
int val_view_open(const uint8_t *p, size_t len, uint32_t ndocs, val_view *v);
void val_view_close(val_view *v);
/* The column of field `name`, or NULL when no document of the segment
 * has a value for it. */
const val_column *val_view_find(const val_view *v, const char *name, size_t len);

/* doc's value in column c into *out: 1, or 0 when it has none. */
static inline int val_get(const val_column *c, uint32_t doc, double *out)
{
    if (!((c->present[doc >> 3] >> (doc & 7)) & 1)) return 0;
    if (c->kind == VAL_FLOATS) {
        memcpy(out, c->data + (size_t)doc * 8, 8);   /* little-endian, as every field */
        return 1;
    }
    uint64_t raw = 0;
    if (c->bits) {
        /* bits <= 56: the 8 bytes from the value's first byte hold it
         * whole, and the column has 8 bytes of slack past its last value */
        uint64_t bit = (uint64_t)doc * c->bits;
        const uint8_t *p = c->data + (bit >> 3);
        memcpy(&raw, p, 8);
        raw = (raw >> (bit & 7)) & ((1ull << c->bits) - 1);
    }
    *out = (double)(c->min + (int64_t)raw);
    return 1;
}

#endif
