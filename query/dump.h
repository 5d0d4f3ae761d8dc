/*
 * dump.h — a bounded text buffer for the debugging dumps of the query layer
 * (qry_ast_dump, qry_plan_dump): writes are cut at the capacity while the
 * length keeps counting, so a caller learns how much room a dump needs.
 */
#ifndef QUIRE_QUERY_DUMP_H
#define QUIRE_QUERY_DUMP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct dump_buf {
    char *buf;
    size_t cap, len;
} dump_buf;

static inline void dump_put(dump_buf *d, const char *s, size_t n)
{
    if (d->len < d->cap) {
        size_t room = d->cap - d->len;
        memcpy(d->buf + d->len, s, n < room ? n : room);
    }
    d->len += n;
}

static inline void dump_puts(dump_buf *d, const char *s)
{
    dump_put(d, s, strlen(s));
}

static inline void dump_u32(dump_buf *d, uint32_t v)
{
    char tmp[12];
    size_t i = sizeof tmp;
    do { tmp[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    dump_put(d, tmp + i, sizeof tmp - i);
}

#endif
