/* test_util.h: helpers shared by the unit tests (include after <cmocka.h>). */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "darknet.h"

/* Writes text to a fresh file in $TMPDIR (or /tmp); returns its path (malloc'ed: unlink, free). */
static inline char *write_temp_cfg(const char *text)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/test_cfg.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Darknet's own parser on a cfg given as text. */
static inline network *parse_cfg_text(const char *text)
{
    char *path = write_temp_cfg(text);
    network *net = parse_network_cfg(path);
    unlink(path);
    free(path);
    return net;
}

#endif
