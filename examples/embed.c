/*
 * embed.c — Quire from a program's side: build an index, search it (by
 * BM25, by a field's number, with a range filter), count, read a stored
 * document back.  It includes only <quire.h> and links with pkg-config
 * after `cmake --install`:
 *
 *   cc -o embed examples/embed.c $(pkg-config --cflags --libs quire)
 *   ./embed /tmp/embed-index
 *
 * tests/test_install.sh builds and runs it against an installed copy.
 */
#include <stdio.h>
#include <string.h>

#include <quire.h>

static int check(int rc, const quire_error *e)
{
    if (rc != QUIRE_OK) fprintf(stderr, "embed: %s\n", e->message);
    return rc != QUIRE_OK;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: embed DIR\n");
        return 2;
    }
    quire_error e;
    quire_writer *w;
    if (check(quire_writer_open(argv[1], NULL, &w, &e), &e)) return 1;
    static const struct { const char *id, *title, *body, *year; } docs[] = {
        {"moby", "Moby-Dick", "Call me Ishmael. The white whale.", "1851"},
        {"typee", "Typee", "A peep at Polynesian life; no whale here but a ship.", "1846"},
        {"billy", "Billy Budd", "The handsome sailor, and a ship of war; a whale is mentioned.", "1924"},
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        quire_field year = {"year", 4, docs[i].year, strlen(docs[i].year)};
        quire_doc_input d = {docs[i].id, strlen(docs[i].id), docs[i].title,
                             strlen(docs[i].title), docs[i].body, strlen(docs[i].body),
                             &year, 1};
        if (check(quire_writer_add(w, &d, NULL, &e), &e)) return 1;
    }
    if (check(quire_writer_commit(w, &e), &e)) return 1;
    quire_writer_free(w);

    quire_index *ix;
    if (check(quire_index_open(argv[1], &ix, &e), &e)) return 1;
    static const char *const queries[] = {"whale", "ship year:<1900", "\"white whale\""};
    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        const char *text = queries[q];
        uint64_t n;
        quire_results *r;
        if (check(quire_count(ix, text, strlen(text), &n, &e), &e) ||
            check(quire_search(ix, text, strlen(text), 10, &r, &e), &e))
            return 1;
        printf("%s: %llu\n", text, (unsigned long long)n);
        for (size_t i = 0; i < quire_results_size(r); i++) {
            const quire_hit *h = quire_results_get(r, i);
            quire_doc *d;
            const char *id;
            size_t len;
            if (check(quire_doc_get(ix, h->doc, &d, &e), &e)) return 1;
            quire_doc_field(d, "id", &id, &len);
            printf("  %.*s %.3f\n", (int)len, id, h->score);
            quire_doc_free(d);
        }
        quire_results_free(r);
    }
    /* newest first by the year field */
    quire_results *r;
    if (check(quire_search_sorted(ix, "whale", 5, "year", 1, 10, &r, &e), &e)) return 1;
    printf("whale by year, newest first:\n");
    for (size_t i = 0; i < quire_results_size(r); i++) {
        const quire_hit *h = quire_results_get(r, i);
        quire_doc *d;
        const char *title;
        size_t len;
        if (check(quire_doc_get(ix, h->doc, &d, &e), &e)) return 1;
        quire_doc_field(d, "title", &title, &len);
        printf("  %.0f %.*s\n", h->score, (int)len, title);
        quire_doc_free(d);
    }
    quire_results_free(r);
    quire_index_close(ix);
    return 0;
}
