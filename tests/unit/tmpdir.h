/* The unit tests' temporary folders: a test makes its own with mkdtemp and
 * removes it, with whatever files the code under test left in it (a
 * journal's -wal and -shm beside it), once done. */
#ifndef BPJS_TEST_TMPDIR_H
#define BPJS_TEST_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline void tmpdir_remove(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;

        if (!d)
                return;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                        char p[400];
                        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                        unlink(p);
                }
        closedir(d);
        rmdir(dir);
}

#endif
