/*
 * fuzz_tmpdir.h — removing a fuzz target's index directory when the
 * process exits (libFuzzer has no teardown hook).
 */
#ifndef QUIRE_FUZZ_TMPDIR_H
#define QUIRE_FUZZ_TMPDIR_H

#include <ftw.h>
#include <stdio.h>

static int fuzz_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The directory and everything in it. */
static void fuzz_rm_tree(const char *dir)
{
    nftw(dir, fuzz_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
