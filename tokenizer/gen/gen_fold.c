/*
 * gen_fold.c — offline generator of tokenizer/fold_table.c.
 *
 * The tokenizer must not call utf8proc per character, and it may not build a
 * table at run time (no global mutable state), so this program asks utf8proc
 * once, here, for every code point: its class for word breaking, its NFKC
 * case fold, and its fold with diacritics removed; and writes them as a
 * two-stage table of compile-time constants.  Using utf8proc here keeps the
 * table consistent with the slow path (tokenizer/fold.c), which calls
 * utf8proc for the rare words that need real composition.
 *
 * Build and run:  tokenizer/gen/regen   (see that script)
 * The program checks that every fold is a fixed point (folding the fold
 * changes nothing, and NFKC_Casefold of it is itself) and fails otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "../tok_internal.h"

#define MAXCP 0x110000
#define NBLK TOK_FOLD_BLOCKS
#define BSZ (1 << TOK_FOLD_SHIFT)

typedef struct { int32_t cp[32]; int n; } cpstr;

static int is_letter_cat(int c) { return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO; }
static int is_mark_cat(int c) { return c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME; }
static int is_num_cat(int c) { return c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO; }
static int is_alnum_cat(int c) { return is_letter_cat(c) || is_mark_cat(c) || is_num_cat(c); }

static int valid_scalar(int32_t c) { return c < MAXCP && !(c >= 0xd800 && c <= 0xdfff); }

/* Runs utf8proc over a code point string with the given options. */
static cpstr map(const cpstr *in, int opts)
{
    cpstr out = {.n = 0};
    utf8proc_int32_t buf[256];
    utf8proc_ssize_t total = 0;
    for (int i = 0; i < in->n; i++) {
        int last = 0;
        utf8proc_ssize_t r = utf8proc_decompose_char(in->cp[i], buf + total,
                                                     256 - total, opts, &last);
        if (r < 0) { fprintf(stderr, "decompose failed U+%04X\n", in->cp[i]); exit(1); }
        total += r;
    }
    utf8proc_ssize_t n = utf8proc_normalize_utf32(buf, total, opts);
    if (n < 0 || n > 32) { fprintf(stderr, "normalize failed\n"); exit(1); }
    for (utf8proc_ssize_t i = 0; i < n; i++) out.cp[out.n++] = buf[i];
    return out;
}

#define NFKC_CF (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE)
#define NFD_OPTS (UTF8PROC_STABLE | UTF8PROC_DECOMPOSE)
#define NFC_OPTS (UTF8PROC_STABLE | UTF8PROC_COMPOSE)

static int in_range(int32_t c, int32_t lo, int32_t hi) { return c >= lo && c <= hi; }

/* Scripts whose marks readers treat as optional accents: Latin and Greek.
 * Cyrillic й, ї and the marks of Indic or Semitic scripts are letters of
 * their own, so they are kept (only ё/ѐ fold to е, as readers do). */
static int strip_script(int32_t c)
{
    return in_range(c, 0x41, 0x24f) || in_range(c, 0x250, 0x2af) ||
           in_range(c, 0x1d00, 0x1dbf) || in_range(c, 0x1e00, 0x1eff) ||
           in_range(c, 0x2c60, 0x2c7f) || in_range(c, 0xa720, 0xa7ff) ||
           in_range(c, 0xab30, 0xab6f) || in_range(c, 0x370, 0x3ff) ||
           in_range(c, 0x1f00, 0x1fff);
}

/* Stand-alone marks of the generic diacritic blocks are dropped when
 * diacritics fold (they are left over after composition failed). */
static int diacritic_block(int32_t c)
{
    return in_range(c, 0x300, 0x36f) || in_range(c, 0x1ab0, 0x1aff) ||
           in_range(c, 0x1dc0, 0x1dff) || in_range(c, 0x20d0, 0x20ff) ||
           in_range(c, 0xfe20, 0xfe2f);
}

/* Letters that readers treat as plain ones (after case fold). */
static const struct { int32_t from; const char *to; } plain[] = {
    {0x153, "oe"}, {0xe6, "ae"}, {0xf8, "o"}, {0x142, "l"}, {0x111, "d"},
    {0xf0, "d"}, {0xfe, "th"}, {0x127, "h"}, {0x131, "i"}, {0x167, "t"},
    {0x180, "b"}, {0x1e5, "g"}, {0x451, "\xd0\xb5"}, {0x450, "\xd0\xb5"},
};

static int is_cjk(int32_t c)
{
    return in_range(c, 0x3400, 0x4dbf) || in_range(c, 0x4e00, 0x9fff) ||
           in_range(c, 0xf900, 0xfaff) || in_range(c, 0x20000, 0x3134f) ||
           in_range(c, 0x3040, 0x30ff) || in_range(c, 0x31f0, 0x31ff) ||
           in_range(c, 0xff66, 0xff9f) || in_range(c, 0xac00, 0xd7af) ||
           in_range(c, 0x1100, 0x11ff) || in_range(c, 0x3130, 0x318f) ||
           in_range(c, 0xa960, 0xa97f) || in_range(c, 0xd7b0, 0xd7ff) ||
           in_range(c, 0x3100, 0x312f) || in_range(c, 0x31a0, 0x31bf) ||
           in_range(c, 0x3005, 0x3007) || in_range(c, 0x1b000, 0x1b16f);
}

static int conn_class(int32_t a)
{
    switch (a) {
    case '\'': return TC_APOS;
    case '-': return TC_HYPHEN;
    case '_': return TC_UNDERSCORE;
    case '/': return TC_SLASH;
    case '.': return TC_DOT;
    case ':': return TC_COLON;
    case ',': return TC_COMMA;
    case '@': return TC_AT;
    case '#': return TC_HASH;
    case '[': return TC_LBRACKET;
    default: return -1;
    }
}

static int32_t comp_second[MAXCP / 32 + 1];
static void set_bit(int32_t *b, int32_t c) { b[c >> 5] |= 1 << (c & 31); }
static int get_bit(const int32_t *b, int32_t c) { return (b[c >> 5] >> (c & 31)) & 1; }

/* Every code point that appears after the first in the canonical
 * decomposition of a composable character may compose with what precedes
 * it; Hangul vowels and trailing consonants compose algorithmically. */
static void find_comp_seconds(void)
{
    for (int32_t c = 0; c < MAXCP; c++) {
        if (!valid_scalar(c)) continue;
        const utf8proc_property_t *p = utf8proc_get_property(c);
        if (p->comp_exclusion) continue;
        cpstr d = map(&(cpstr){.cp = {c}, .n = 1}, NFD_OPTS);
        for (int i = 1; i < d.n; i++) set_bit(comp_second, d.cp[i]);
    }
    for (int32_t c = 0x1161; c <= 0x1175; c++) set_bit(comp_second, c);
    for (int32_t c = 0x11a8; c <= 0x11c2; c++) set_bit(comp_second, c);
}

typedef struct { int cls; int flags; cpstr fold; } info;

static cpstr keep_alnum(cpstr s)
{
    cpstr o = {.n = 0};
    for (int i = 0; i < s.n; i++)
        /* U+02BC is a letter to Unicode but an apostrophe to us (ŉ). */
        if (is_alnum_cat(utf8proc_category(s.cp[i])) && s.cp[i] != 0x2bc)
            o.cp[o.n++] = s.cp[i];
    return o;
}

static cpstr strip_diacritics(cpstr f)
{
    cpstr d = map(&f, NFD_OPTS), o = {.n = 0};
    int32_t base = -1;
    for (int i = 0; i < d.n; i++) {
        int cat = utf8proc_category(d.cp[i]);
        if (is_mark_cat(cat)) {
            if (base >= 0 ? strip_script(base) : diacritic_block(d.cp[i])) continue;
        } else {
            base = d.cp[i];
        }
        o.cp[o.n++] = d.cp[i];
    }
    o = map(&o, NFC_OPTS);
    cpstr r = {.n = 0};
    for (int i = 0; i < o.n; i++) {
        const char *to = NULL;
        for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++)
            if (plain[k].from == o.cp[i]) to = plain[k].to;
        if (!to) { r.cp[r.n++] = o.cp[i]; continue; }
        const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)to;
        while (*s) {
            utf8proc_int32_t cp;
            s += utf8proc_iterate(s, -1, &cp);
            r.cp[r.n++] = cp;
        }
    }
    return r;
}

static info classify(int32_t c, int diacritics)
{
    info in = {.cls = TC_SEP, .flags = 0, .fold = {.n = 0}};
    if (!valid_scalar(c)) return in;
    const utf8proc_property_t *p = utf8proc_get_property(c);
    int cat = p->category;
    cpstr nf = map(&(cpstr){.cp = {c}, .n = 1}, NFKC_CF);
    if (p->combining_class) in.flags |= TF_NZCCC;
    if (get_bit(comp_second, c)) in.flags |= TF_COMPSECOND;
    for (int i = 0; i < nf.n; i++) {
        if (get_bit(comp_second, nf.cp[i])) in.flags |= TF_COMPSECOND;
        if (utf8proc_get_property(nf.cp[i])->combining_class) in.flags |= TF_NZCCC;
    }
    /* Explicit classes first. */
    if (c == 0x200b || c == 0xfeff || c == 0 || c == 0xfffd) { in.flags = 0; return in; }
    if (c == 0x2019 || c == 0x2bc) { in.cls = TC_APOS; in.flags = 0; return in; }
    if (c == 0x2010 || c == 0x2011) { in.cls = TC_HYPHEN; in.flags = 0; return in; }
    if (c < 0x80 && conn_class(c) >= 0) { in.cls = conn_class(c); in.flags = 0; return in; }
    if (!is_alnum_cat(cat)) {
        in.flags = 0;
        if (p->ignorable) { in.cls = TC_IGNORE; return in; }
        /* Full-width and small forms of the connectors behave like them. */
        if (nf.n == 1 && nf.cp[0] < 0x80 && conn_class(nf.cp[0]) >= 0 &&
            nf.cp[0] != '[')
            in.cls = conn_class(nf.cp[0]);
        return in;
    }
    if (p->ignorable) { in.cls = TC_IGNORE; in.flags = 0; return in; }
    cpstr f;
    if (is_mark_cat(cat)) {
        f = keep_alnum(nf);
        in.cls = TC_MARK;
        if (diacritics && diacritic_block(c)) f.n = 0;
    } else {
        /* A letter or number that folds to punctuation (½ → 1⁄2, ⑴ → (1))
         * would change the word structure; treat it as a symbol. */
        for (int i = 0; i < nf.n; i++)
            if (!is_alnum_cat(utf8proc_category(nf.cp[i])) && !is_letter_cat(cat)) {
                in.flags = 0;
                return in;
            }
        f = keep_alnum(nf);
        if (f.n == 0) { in.flags = 0; return in; }
        if (diacritics) f = strip_diacritics(f);
        int all_digit = 1;
        for (int i = 0; i < f.n; i++)
            if (utf8proc_category(f.cp[i]) != UTF8PROC_CATEGORY_ND) all_digit = 0;
        in.cls = all_digit && is_num_cat(cat) ? TC_DIGIT : TC_LETTER;
        if (is_cjk(c) || (f.n == 1 && is_cjk(f.cp[0]))) in.cls = TC_CJK;
    }
    in.fold = f;
    return in;
}

static info tab[2][MAXCP];

static uint32_t pool_len;
static char pool[65536];

static int enc(int32_t c, char *out) { return (int)utf8proc_encode_char(c, (utf8proc_uint8_t *)out); }

static uint32_t pool_add(const char *s, int n)
{
    for (uint32_t i = 0; i + n <= pool_len; i++)
        if (memcmp(pool + i, s, n) == 0) return i;
    if (pool_len + n > sizeof pool) { fprintf(stderr, "pool overflow\n"); exit(1); }
    memcpy(pool + pool_len, s, n);
    pool_len += n;
    return pool_len - n;
}

static uint32_t entry(int32_t c, const info *in)
{
    uint32_t e = (uint32_t)in->cls | (uint32_t)in->flags;
    if (in->fold.n == 0) {
        if (in->cls == TC_LETTER || in->cls == TC_DIGIT || in->cls == TC_MARK ||
            in->cls == TC_CJK || in->cls == TC_IGNORE)
            e |= FK_EMPTY << 6;
        return e; /* separators and connectors: fold unused */
    }
    if (in->fold.n == 1 && in->fold.cp[0] == c) return e | FK_SAME << 6;
    if (in->fold.n == 1) {
        int32_t d = in->fold.cp[0] - c;
        return e | FK_DELTA << 6 | ((uint32_t)d << 8);
    }
    char buf[160];
    int n = 0;
    for (int i = 0; i < in->fold.n; i++) n += enc(in->fold.cp[i], buf + n);
    if (n > 255) { fprintf(stderr, "fold too long\n"); exit(1); }
    uint32_t off = pool_add(buf, n);
    return e | FK_POOL << 6 | off << 8 | (uint32_t)n << 24;
}

/* Folding must be a fixed point: each code point of a fold folds to itself,
 * and NFKC_Casefold of the whole fold is the fold. */
static int check(int d)
{
    int bad = 0;
    for (int32_t c = 0; c < MAXCP; c++) {
        const info *in = &tab[d][c];
        if (in->fold.n == 0) continue;
        for (int i = 0; i < in->fold.n; i++) {
            const info *o = &tab[d][in->fold.cp[i]];
            if (!(o->fold.n == 1 && o->fold.cp[0] == in->fold.cp[i])) {
                if (bad++ < 20) fprintf(stderr, "mode %d: U+%04X fold U+%04X not fixed\n", d, c, in->fold.cp[i]);
            }
        }
        cpstr again = map(&in->fold, NFKC_CF);
        if (again.n != in->fold.n || memcmp(again.cp, in->fold.cp, sizeof(int32_t) * again.n)) {
            if (bad++ < 20) fprintf(stderr, "mode %d: U+%04X fold not NFKC_CF-stable\n", d, c);
        }
    }
    return bad;
}

int main(void)
{
    find_comp_seconds();
    for (int d = 0; d < 2; d++)
        for (int32_t c = 0; c < MAXCP; c++) tab[d][c] = classify(c, d);
    int bad = check(0) + check(1);
    if (bad) { fprintf(stderr, "%d unstable folds\n", bad); return 1; }

    static uint32_t blocks[4096][BSZ];
    int nblocks = 0;
    static uint16_t stage1[2][NBLK];
    for (int d = 0; d < 2; d++)
        for (int b = 0; b < NBLK; b++) {
            uint32_t blk[BSZ];
            for (int i = 0; i < BSZ; i++) {
                int32_t c = b * BSZ + i;
                blk[i] = entry(c, &tab[d][c]);
            }
            int k;
            for (k = 0; k < nblocks; k++)
                if (memcmp(blocks[k], blk, sizeof blk) == 0) break;
            if (k == nblocks) {
                if (nblocks == 4096) { fprintf(stderr, "too many blocks\n"); return 1; }
                memcpy(blocks[nblocks++], blk, sizeof blk);
            }
            stage1[d][b] = (uint16_t)k;
        }

    printf("/*\n * fold_table.c — GENERATED by tokenizer/gen/gen_fold.c from utf8proc %s\n"
           " * (Unicode %s); do not edit, run tokenizer/gen/regen.\n"
           " *\n * Per code point: class, slow-path flags and folded form, as described\n"
           " * in tokenizer/tok_internal.h.  %d distinct blocks of %d entries.\n */\n",
           utf8proc_version(), utf8proc_unicode_version(), nblocks, BSZ);
    printf("#include \"tok_internal.h\"\n\n");
    printf("const uint16_t tok_fold_stage1[2][TOK_FOLD_BLOCKS] = {\n");
    for (int d = 0; d < 2; d++) {
        printf("{");
        for (int b = 0; b < NBLK; b++) printf("%s%d,", b % 24 ? "" : "\n", stage1[d][b]);
        printf("\n},\n");
    }
    printf("};\n\n/* Direct entries below U+0800 (two-byte UTF-8: Latin, Greek,\n"
           " * Cyrillic, Hebrew, Arabic...), one load instead of two. */\n");
    printf("const uint32_t tok_fold_small[2][TOK_FOLD_SMALL] = {\n");
    for (int d = 0; d < 2; d++) {
        printf("{");
        for (int32_t c = 0; c < TOK_FOLD_SMALL; c++)
            printf("%s0x%x,", c % 12 ? "" : "\n", entry(c, &tab[d][c]));
        printf("\n},\n");
    }
    printf("};\n\nconst uint32_t tok_fold_stage2[] = {");
    for (int k = 0; k < nblocks; k++)
        for (int i = 0; i < BSZ; i++) printf("%s0x%x,", i % 12 ? "" : "\n", blocks[k][i]);
    printf("\n};\n\nconst char tok_fold_pool[] =");
    for (uint32_t i = 0; i < pool_len; i++) {
        if (i % 32 == 0) printf("\n\"");
        printf("\\x%02x", (unsigned char)pool[i]);
        if (i % 32 == 31 || i + 1 == pool_len) printf("\"");
    }
    if (pool_len == 0) printf(" \"\"");
    printf(";\n");
    return 0;
}
