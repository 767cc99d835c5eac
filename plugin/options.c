/* options.c: strict reading of a plugin section's cfg keys.
 *
 * Darknet's own option_find_* accepted "abc" as 0 (patch 0010 makes them strict too) and ignore
 * unknown keys; ours reject both, with a message naming the cfg file, the key's line (when it was
 * read from a file), the layer, the section and the key. No cfg keys of its own.
 */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "option_list.h"
#include "plugin.h"

/* Keys parse_network_cfg reads for every layer after the section's own parser. */
static const char *const generic_keys[] = {
    "truth", "onlyforward", "stopbackward", "dontsave", "dontload", "numload",
    "dontloadscales", "learning_rate", "smooth", NULL
};

/* line: the key's line in the cfg, 0 when unknown (a whole-section message, or options made in code). */
static void vreport(const char *cfgfile, int line, int index, const char *section, const char *key,
                    const char *val, const char *fmt, va_list ap)
{
    if (line > 0) fprintf(stderr, "%s:%d: layer %d [%s]: ", cfgfile, line, index, section);
    else fprintf(stderr, "%s: layer %d [%s]: ", cfgfile, index, section);
    if (key && val) fprintf(stderr, "%s=%s: ", key, val);
    else if (key) fprintf(stderr, "%s: ", key);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static kvp *find_kvp(const plugin_section_args *a, const char *key);

void plugin_error(const plugin_section_args *a, const char *key, const char *fmt, ...)
{
    /* Darknet has already printed this layer's index without a newline. */
    fputc('\n', stderr);
    const kvp *p = key ? find_kvp(a, key) : NULL;
    va_list ap;
    va_start(ap, fmt);
    vreport(a->cfgfile, p ? p->line : 0, a->index, a->section, key, p ? p->val : NULL, fmt, ap);
    va_end(ap);
}

void plugin_net_error(const char *cfgfile, int index, const char *section, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cfgfile, 0, index, section, NULL, NULL, fmt, ap);
    va_end(ap);
}

static void value_error(const plugin_section_args *a, const char *key, const char *val, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void value_error(const plugin_section_args *a, const char *key, const char *val, const char *fmt, ...)
{
    fputc('\n', stderr);
    const kvp *p = find_kvp(a, key);
    va_list ap;
    va_start(ap, fmt);
    vreport(a->cfgfile, p ? p->line : 0, a->index, a->section, key, val, fmt, ap);
    va_end(ap);
}

static kvp *find_kvp(const plugin_section_args *a, const char *key)
{
    for (node *n = a->options->front; n; n = n->next) {
        kvp *p = n->val;
        if (strcmp(p->key, key) == 0) return p;
    }
    return NULL;
}

int plugin_opt_present(const plugin_section_args *a, const char *key)
{
    return find_kvp(a, key) != NULL;
}

/* The value string with the key marked used, or NULL when absent. */
static const char *take(const plugin_section_args *a, const char *key)
{
    kvp *p = find_kvp(a, key);
    if (!p) return NULL;
    p->used = 1;
    return p->val;
}

int plugin_opt_float(const plugin_section_args *a, const char *key, float def, float *out)
{
    const char *val = take(a, key);
    if (!val) { *out = def; return 0; }
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (end == val || *end != '\0') { value_error(a, key, val, "not a number"); return -1; }
    if (!isfinite(v) || fabs(v) > FLT_MAX) {
        value_error(a, key, val, "not a finite float");
        return -1;
    }
    if (v != 0 && (errno == ERANGE || fabs(v) < FLT_MIN)) {
        value_error(a, key, val, "too close to 0 for a float (smallest %g)", FLT_MIN);
        return -1;
    }
    *out = (float)v;
    return 0;
}

static int parse_int(const plugin_section_args *a, const char *key, const char *val,
                     const char *text, const char *stop, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || end != stop) { value_error(a, key, val, "not an integer"); return -1; }
    if (errno == ERANGE || v < INT_MIN || v > INT_MAX) {
        value_error(a, key, val, "integer out of range");
        return -1;
    }
    *out = (int)v;
    return 0;
}

int plugin_opt_int(const plugin_section_args *a, const char *key, int def, int *out)
{
    const char *val = take(a, key);
    if (!val) { *out = def; return 0; }
    return parse_int(a, key, val, val, val + strlen(val), out);
}

int plugin_opt_string(const plugin_section_args *a, const char *key, const char *def, const char **out)
{
    const char *val = take(a, key);
    *out = val ? val : def;
    return 0;
}

int plugin_opt_choice(const plugin_section_args *a, const char *key, const char *const *choices,
                      int n, int def, int *out)
{
    const char *val = take(a, key);
    if (!val) { *out = def; return 0; }
    for (int i = 0; i < n; ++i)
        if (strcmp(val, choices[i]) == 0) { *out = i; return 0; }
    char allowed[256] = "";
    for (int i = 0; i < n; ++i) {
        strncat(allowed, i ? ", " : "", sizeof allowed - strlen(allowed) - 1);
        strncat(allowed, choices[i], sizeof allowed - strlen(allowed) - 1);
    }
    value_error(a, key, val, "unknown value; expected one of: %s", allowed);
    return -1;
}

int plugin_opt_int_list(const plugin_section_args *a, const char *key, int *vals, int max, int *count)
{
    *count = 0;
    const char *val = take(a, key);
    if (!val) return 0;
    const char *p = val;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *stop = comma ? comma : p + strlen(p);
        while (p < stop && (*p == ' ' || *p == '\t')) ++p;
        if (*count == max) { value_error(a, key, val, "more than %d values", max); return -1; }
        if (parse_int(a, key, val, p, stop, &vals[*count])) return -1;
        ++*count;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

static int in_list(const char *key, const char *const *list)
{
    for (int i = 0; list && list[i]; ++i)
        if (strcmp(key, list[i]) == 0) return 1;
    return 0;
}

int plugin_opt_reject_unknown(const plugin_section_args *a, const char *const *known)
{
    for (node *n = a->options->front; n; n = n->next) {
        kvp *p = n->val;
        if (in_list(p->key, known) || in_list(p->key, generic_keys)) continue;
        char allowed[256] = "";
        for (int i = 0; known && known[i]; ++i) {
            strncat(allowed, i ? ", " : "", sizeof allowed - strlen(allowed) - 1);
            strncat(allowed, known[i], sizeof allowed - strlen(allowed) - 1);
        }
        value_error(a, p->key, p->val, "unknown key for [%s] (known: %s%s)", a->section,
                    allowed[0] ? allowed : "none", allowed[0] ? "; and Darknet's generic layer keys" : "");
        return -1;
    }
    return 0;
}
