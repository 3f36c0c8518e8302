/* replay: the main() of a fuzz target built without libFuzzer. It feeds
 * LLVMFuzzerTestOneInput every file named on the command line, and every
 * file of every directory named there, so that ctest replays the seed
 * corpora (and any reproducer a fuzzing run left) on every build. Each input
 * sits in a buffer of exactly its size, so the sanitizers see any read past
 * its end. Exits 0 when at least one input ran and none crashed. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Returns 0, or -1 with a message on stderr. */
static int replay_file(const char *path)
{
        struct stat st;
        uint8_t *buf = NULL;
        FILE *f = fopen(path, "rb");
        int rc = -1;

        if (!f || fstat(fileno(f), &st) < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                goto out;
        }
        buf = malloc(st.st_size ? (size_t)st.st_size : 1);
        if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
                fprintf(stderr, "replay: %s: cannot read\n", path);
                goto out;
        }
        LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
        rc = 0;
out:
        free(buf);
        if (f)
                fclose(f);
        return rc;
}

static int visible(const struct dirent *d)
{
        return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
        long n = 0;
        int failed = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                struct dirent **names;
                int k;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        failed = 1;
                        continue;
                }
                if (!S_ISDIR(st.st_mode)) {
                        failed |= replay_file(argv[i]) != 0;
                        n++;
                        continue;
                }
                k = scandir(argv[i], &names, visible, alphasort);
                if (k < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        failed = 1;
                        continue;
                }
                for (int j = 0; j < k; j++) {
                        char path[4096];
                        snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]->d_name);
                        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                                failed |= replay_file(path) != 0;
                                n++;
                        }
                        free(names[j]);
                }
                free(names);
        }
        printf("replay: %ld input(s)\n", n);
        if (n == 0) {
                fprintf(stderr, "replay: no input (usage: %s FILE|DIR...)\n", argv[0]);
                return 1;
        }
        return failed;
}
