/* se-convert: from any Darknet classifier cfg to a Siamese Ensemble in one command, with the
 * trained baseline's weights, and one branch back out as an ordinary network.
 *
 *   se-convert cfg BASE.cfg OUT.cfg [options]
 *       Writes OUT.cfg, BASE.cfg's [net] followed by
 *           branch A   BASE layers 0..N-1              (OUT layers 0..N-1)
 *           [branch]                                   (layer N)
 *           branch B   a copy of BASE layers 0..N-1    (layers N+1..2N), initialised on its own
 *           [siamese]  with the keys given below       (layer 2N+1)
 *           head       BASE layers N..end              (layers 2N+2..)
 *       Comments are kept (branch B's copy keeps them too). Lines starting "# se-convert:" are
 *       this tool's own; it drops them from its input and writes fresh ones, so converting or
 *       exporting a generated cfg never piles up stale notes.
 *       --at N            the mixing point: BASE's first head layer, numbered as in Darknet's
 *                         layer table (0 = the section after [net]). Default: see below.
 *       --alpha A  --beta B  --mode batch|sample  --pairing shuffle|same|other|self
 *       --test-lambda T  --seed S
 *                         [siamese] keys. Those not given are not written: the layer's defaults
 *                         apply (alpha 0.4, beta = alpha, batch, shuffle, 0.5, seed from clock).
 *       --classes K       outputs of the classifier (its filters= or output=), for a dataset with
 *                         another number of classes than BASE's
 *       --width W  --height H  --channels C  --batch B  --subdivisions S
 *       --net KEY=VALUE   [net] keys to set: replaced where present, added otherwise (repeatable)
 *
 *   se-convert weights BASE.cfg BASE.weights SE.cfg SE.weights
 *       Weights for fine-tuning SE.cfg (BASE.cfg converted by `se-convert cfg`) from a trained
 *       BASE: the backbone into both branches, the head as is. `seen` starts at 0, as with
 *       `darknet partial`, so training runs SE.cfg's whole schedule. SE.cfg must be BASE.cfg
 *       converted: the same layer types, parameter shapes and [route]/[shortcut] targets where the
 *       conversion puts them ([net] and keys that change no shape, e.g. activation, may differ).
 *
 *   se-convert export SE.cfg SE.weights OUT.cfg OUT.weights [--branch A|B]      (default A)
 *       One branch plus the head as an ordinary cfg and weights that stock Darknet runs. SE.cfg
 *       must have the layout `cfg` writes (one [branch] without from=, one [siamese] mixing the
 *       layers before [branch] and before itself); branches may differ in architecture. `seen`
 *       is kept.
 *
 * Mixing point (default N). The classifier is BASE's last layer with weights ([convolutional],
 * [connected], [deconvolutional], [local]); N is that layer, moved back over [dropout] layers right
 * before it (a dropout feeding the classifier belongs to the head). On Darknet's stock cfgs:
 * darknet19, densenet201, tiny, extraction: the 1x1 [convolutional] before [avgpool] (the branches'
 * feature maps are mixed); resnet18/50, darknet53, darknet: the 1x1 [convolutional] after
 * [avgpool] (pooled features are mixed); cifar: the [dropout] before its 1x1 [convolutional];
 * alexnet, vgg-16: the [dropout] before the last [connected].
 *
 * Indices. [route] layers= and [shortcut] from= keep their style (negative = relative to the layer,
 * as Darknet reads them) and are recomputed to name the same layer in its new place. Branch A:
 * unchanged. Branch B: an absolute index r becomes N+1+r; relative ones stay as they are. Head: a
 * layer r >= N becomes r+N+2, and layer N-1, the backbone output the head read, becomes the
 * [siamese] layer 2N+1 that now hands it the mixed output (relative ones again stay as they are).
 * A head reference to any other backbone layer has no single meaning (which branch's copy?) and
 * is refused, with the --at values that avoid it. export applies the inverse maps.
 *
 * Refused with a message naming the file and the reason, exit status 1: a first section that is
 * not [net]; fewer than two layers, nothing before the mixing point, or no head; an already
 * Siamese cfg ([branch]/[siamese]); detectors and segmenters ([yolo], [region], [detection],
 * [iseg]: their labels are boxes and masks, which [siamese] cannot mix); recurrent networks
 * ([rnn], [gru], [lstm], [crnn]); a tree softmax (tree=, which label mixing breaks); sections
 * Darknet does not know; [route]/[shortcut] indices that are not integers or not earlier layers;
 * a weights file whose size does not fit its cfg; layers with dontload, dontsave, numload or
 * dontloadscales (they change a weights file's layout). Usage errors exit with status 2.
 *
 * Example:
 *   se-convert cfg cfg/cifar.cfg cfg/cifar-siamese.cfg --alpha 0.4
 *   se-convert weights cfg/cifar.cfg backup/cifar.weights cfg/cifar-siamese.cfg cifar-se.weights
 *   darknet classifier train cfg/cifar.data cfg/cifar-siamese.cfg cifar-se.weights
 *   se-convert export cfg/cifar-siamese.cfg backup/cifar-siamese.weights a.cfg a.weights --branch A
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "darknet.h"
#include "mix.h"
#include "network.h"
#include "option_list.h"
#include "utils.h"

/* parser.c defines these without a header: read_cfg() returns a list of `section`s. */
typedef struct { char *type; list *options; } section;
void free_section(section *s);
LAYER_TYPE string_to_layer_type(char *type);

#define GEN "# se-convert:"      /* prefix of the comment lines this tool writes */
#define MAX_REFS 64              /* [route] inputs; Darknet's stock cfgs use at most 4 */
#define MAX_EDITS 16             /* key=value edits of one conversion */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("se-convert: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

static void append(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

/* ---- a cfg file, with its comments ------------------------------------------------------------ */

typedef struct { char **v; int n, cap; } strvec;

static void strvec_push(strvec *s, char *line)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v);
        if (!s->v) { perror("se-convert"); exit(1); }
    }
    s->v[s->n++] = line;
}

typedef struct {
    section *dn;        /* Darknet's own reading of the section: type and option list */
    LAYER_TYPE lt;
    int line;           /* line number of the header */
    strvec lead;        /* raw comment and blank lines before the header */
    strvec body;        /* raw lines after the header, up to its last option line */
} cfg_section;

typedef struct {
    const char *path;
    cfg_section *s;     /* s[0] is [net]; Darknet's layer i is s[i+1] */
    int ns;
    strvec tail;        /* comment and blank lines after the last option */
    list *secs;         /* read_cfg's list (its sections are the s[i].dn) */
} cfg_file;

/* Every cfg_file read is freed before main returns, so that LeakSanitizer (`make test SAN=1`)
 * sees a clean run. A command reads at most three. */
static cfg_file *read_files[8];
static int n_read_files;

static void strvec_free(strvec *s)
{
    for (int i = 0; i < s->n; ++i) free(s->v[i]);
    free(s->v);
}

static void free_cfg_files(void)
{
    for (int k = 0; k < n_read_files; ++k) {
        cfg_file *cf = read_files[k];
        for (int i = 0; i < cf->ns; ++i) {
            strvec_free(&cf->s[i].lead);
            strvec_free(&cf->s[i].body);
            if (cf->s[i].dn) free_section(cf->s[i].dn);
        }
        free(cf->s);
        strvec_free(&cf->tail);
        if (cf->secs) free_list(cf->secs);
    }
    n_read_files = 0;
}

static int nlayers(const cfg_file *cf) { return cf->ns - 1; }
static const cfg_section *lsec(const cfg_file *cf, int i) { return &cf->s[i + 1]; }
static const char *ltype(const cfg_file *cf, int i) { return lsec(cf, i)->dn->type; }

/* A stripped line as Darknet's read_cfg classifies it. */
enum { LINE_BLANK, LINE_HEADER, LINE_OPTION };
static int line_kind(const char *stripped)
{
    if (stripped[0] == '[') return LINE_HEADER;
    if (!stripped[0] || stripped[0] == '#' || stripped[0] == ';') return LINE_BLANK;
    return LINE_OPTION;
}

/* Reads a cfg twice: line by line to keep its comments and layout, and with Darknet's read_cfg()
 * for the options, so every value is read exactly as Darknet reads it. */
static int read_cfg_file(const char *path, cfg_file *cf)
{
    memset(cf, 0, sizeof *cf);
    cf->path = path;
    if (n_read_files < (int)(sizeof read_files / sizeof *read_files)) read_files[n_read_files++] = cf;
    FILE *f = fopen(path, "r");   /* read_cfg() would exit with status 0 on a missing file */
    if (!f) return fail("%s: cannot read: %s", path, strerror(errno));
    strvec *pending = &cf->tail;   /* comment lines waiting for the next header (the tail at the end) */
    int cap = 0, lineno = 0;
    char *raw;
    while ((raw = fgetl(f))) {
        ++lineno;
        char *s = strdup(raw);
        strip(s);
        int kind = line_kind(s);
        free(s);
        if (kind == LINE_HEADER) {
            if (cf->ns == cap) {
                cap = cap ? 2 * cap : 32;
                cf->s = realloc(cf->s, (size_t)cap * sizeof *cf->s);
                if (!cf->s) { perror("se-convert"); exit(1); }
            }
            cfg_section *sec = &cf->s[cf->ns++];
            memset(sec, 0, sizeof *sec);
            sec->line = lineno;
            sec->lead = *pending;
            memset(pending, 0, sizeof *pending);
            free(raw);   /* the header is written back from Darknet's stripped type */
        } else if (kind == LINE_BLANK) {
            strvec_push(pending, raw);
        } else {
            if (!cf->ns) { fclose(f); return fail("%s:%d: option before the first section", path, lineno); }
            cfg_section *sec = &cf->s[cf->ns - 1];
            for (int k = 0; k < pending->n; ++k) strvec_push(&sec->body, pending->v[k]);
            pending->n = 0;
            strvec_push(&sec->body, raw);
        }
    }
    fclose(f);
    if (!cf->ns) return fail("%s: no sections", path);

    list *secs = cf->secs = read_cfg((char *)path);
    if (secs->size != cf->ns)
        return fail("%s: internal error: %d sections read, Darknet reads %d", path, cf->ns, secs->size);
    node *nd = secs->front;
    for (int i = 0; i < cf->ns; ++i, nd = nd->next) {
        cf->s[i].dn = nd->val;
        cf->s[i].lt = string_to_layer_type(cf->s[i].dn->type);
    }
    if (cf->s[0].lt != NETWORK)
        return fail("%s:%d: the first section is %s; a Darknet cfg starts with [net]", path, cf->s[0].line,
                    cf->s[0].dn->type);
    return 0;
}

/* ---- [route]/[shortcut] indices --------------------------------------------------------------- */

static const char *ref_key(LAYER_TYPE t) { return t == ROUTE ? "layers" : t == SHORTCUT ? "from" : NULL; }

/* Parses VALUE, the index list of layer i's ref key, into raw[] (as written) and abs[] (absolute).
 * Darknet reads these with atoi and no checks; here every item must be an integer naming an
 * earlier layer. Returns the count, or -1 after a message. */
static int parse_refs(const cfg_file *cf, int i, const char *value, int *raw, int *abs)
{
    const cfg_section *s = lsec(cf, i);
    const char *key = ref_key(s->lt);
    if (!value || !*value) return fail("%s:%d: layer %d %s has no %s=", cf->path, s->line, i, s->dn->type, key);
    int n = 0;
    const char *p = value;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || (*end && *end != ','))
            return fail("%s:%d: layer %d %s %s=%s: not a list of integers", cf->path, s->line, i, s->dn->type,
                        key, value);
        if (n == MAX_REFS)
            return fail("%s:%d: layer %d: more than %d layers in %s=", cf->path, s->line, i, MAX_REFS, key);
        long a = v < 0 ? i + v : v;
        if (a < 0 || a >= i)
            return fail("%s:%d: layer %d %s %s=%s: %ld is not an earlier layer", cf->path, s->line, i,
                        s->dn->type, key, value, v);
        raw[n] = (int)v;
        abs[n++] = (int)a;
        if (!*end) break;
        p = end + 1;
    }
    if (s->lt == SHORTCUT && n != 1)
        return fail("%s:%d: layer %d [shortcut] from=%s: one layer expected", cf->path, s->line, i, value);
    return n;
}

/* ---- what can be converted ------------------------------------------------------------------- */

static int is_section(const cfg_file *cf, int i, const char *name) { return strcmp(ltype(cf, i), name) == 0; }

/* Every layer must be one this tool understands. allow_se: [branch] and [siamese] are expected
 * (export), not refused (cfg, weights). */
static int check_layers(const cfg_file *cf, int allow_se)
{
    for (int i = 0; i < nlayers(cf); ++i) {
        const cfg_section *s = lsec(cf, i);
        const char *t = s->dn->type;
        switch (s->lt) {
        case YOLO: case REGION: case DETECTION: case ISEG:
            return fail("%s:%d: layer %d %s: a detector or segmenter; only classifiers can be converted "
                        "(their labels are boxes or masks, which [siamese] cannot mix)", cf->path, s->line, i, t);
        case RNN: case GRU: case LSTM: case CRNN:
            return fail("%s:%d: layer %d %s: recurrent networks are not supported", cf->path, s->line, i, t);
        case NETWORK:
            return fail("%s:%d: layer %d: a second %s section", cf->path, s->line, i, t);
        case SOFTMAX:
            if (option_find(s->dn->options, "tree"))
                return fail("%s:%d: layer %d [softmax] tree=: label mixing breaks a tree softmax's label "
                            "encoding; use a flat [softmax]", cf->path, s->line, i);
            break;
        case BLANK:
            if (is_section(cf, i, "[branch]") || is_section(cf, i, "[siamese]")) {
                if (allow_se) break;
                return fail("%s:%d: layer %d %s: already a Siamese Ensemble; convert the plain classifier "
                            "(`se-convert export` gives one branch back as one)", cf->path, s->line, i, t);
            }
            return fail("%s:%d: layer %d: unknown section %s", cf->path, s->line, i, t);
        default:
            break;
        }
        /* Darknet reads indices with atoi and no checks (a [shortcut] without from= crashes it). */
        const char *rk = ref_key(s->lt);
        int raw[MAX_REFS], abs[MAX_REFS];
        if (rk && parse_refs(cf, i, option_find(s->dn->options, (char *)rk), raw, abs) < 0) return -1;
    }
    return 0;
}

static int has_weights(LAYER_TYPE t)
{
    return t == CONVOLUTIONAL || t == CONNECTED || t == DECONVOLUTIONAL || t == LOCAL;
}

/* The classifier: the last layer with weights, or -1. */
static int classifier_layer(const cfg_file *cf)
{
    for (int i = nlayers(cf) - 1; i >= 0; --i)
        if (has_weights(lsec(cf, i)->lt)) return i;
    return -1;
}

/* ---- spans: which source layers go where ----------------------------------------------------- */

/* Source layers [lo, hi) written in order from output index dst. A reference from one of them may
 * name a layer of the same span, or alias_src, which becomes alias_dst (-1: none). */
typedef struct {
    const char *what;
    int lo, hi, dst;
    int alias_src, alias_dst;
    const char *alias_what;   /* what alias_src is, for messages */
    int hint_at;              /* the head of a conversion: say which --at values would work */
} span;

static int span_map(const span *sp, int r)
{
    if (r >= sp->lo && r < sp->hi) return sp->dst + r - sp->lo;
    return r == sp->alias_src ? sp->alias_dst : -1;
}

/* Maps layer i's references (i in sp); fills out[] in the written style. Returns the count or -1. */
static int map_refs(const cfg_file *cf, const span *sp, int i, const char *value, int *out)
{
    int raw[MAX_REFS], abs[MAX_REFS];
    int n = parse_refs(cf, i, value, raw, abs);
    int pos = sp->dst + i - sp->lo;
    for (int k = 0; k < n; ++k) {
        int t = span_map(sp, abs[k]);
        if (t < 0) {
            const cfg_section *s = lsec(cf, i);
            char why[256] = "";
            if (sp->alias_src >= 0)
                snprintf(why, sizeof why, "; the %s reaches earlier layers only through layer %d, %s", sp->what,
                         sp->alias_src, sp->alias_what);
            if (sp->hint_at)
                append(why, sizeof why, "; use --at %d or lower, or --at %d or higher", abs[k] + 1, i + 1);
            return fail("%s:%d: layer %d %s in the %s (layers %d-%d) refers to layer %d, outside it%s", cf->path,
                        s->line, i, s->dn->type, sp->what, sp->lo, sp->hi - 1, abs[k], why);
        }
        out[k] = raw[k] < 0 ? t - pos : t;
    }
    return n;
}

/* ---- writing a cfg ----------------------------------------------------------------------------- */

/* Sets KEY=VALUE in source layer `layer` (-1: [net]) wherever it is written. */
typedef struct { int layer; const char *key; const char *value; } edit;

/* A piece of the output: a span of source layers, or literal text adding `layers` sections. */
typedef struct { const span *sp; const char *text; int layers; } piece;

static int is_generated(const char *line)
{
    while (*line == ' ' || *line == '\t') ++line;
    return strncmp(line, GEN, strlen(GEN)) == 0;
}

/* Output lines go through here: runs of blank lines become one, so the blank lines around the
 * notes this tool writes and drops never pile up over repeated conversions. */
typedef struct { FILE *f; int blank; } writer;

static void emit(writer *w, const char *line)
{
    int blank = 1;
    for (const char *c = line; *c; ++c) if (*c != ' ' && *c != '\t') { blank = 0; break; }
    if (blank && w->blank) return;
    fprintf(w->f, "%s\n", line);
    w->blank = blank;
}

static void emitf(writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emitf(writer *w, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    emit(w, buf);
}

/* Text of our own, one or more lines each ending in '\n'. */
static void emit_text(writer *w, const char *text)
{
    for (const char *nl; (nl = strchr(text, '\n')); text = nl + 1) emitf(w, "%.*s", (int)(nl - text), text);
}

static void emit_lines(writer *w, const strvec *v)
{
    for (int k = 0; k < v->n; ++k)
        if (!is_generated(v->v[k])) emit(w, v->v[k]);
}

/* Writes source section si (layer si-1) with its edits and, inside span sp, its mapped refs. */
static int write_section(writer *w, const cfg_file *cf, int si, const span *sp, const edit *ed, int ned)
{
    const cfg_section *s = &cf->s[si];
    int layer = si - 1, applied[MAX_EDITS] = {0};
    const char *rk = sp ? ref_key(s->lt) : NULL;
    emit_lines(w, &s->lead);
    emit(w, s->dn->type);
    for (int k = 0; k < s->body.n; ++k) {
        const char *raw = s->body.v[k];
        char *line = strdup(raw);
        strip(line);
        char *eq = strchr(line, '=');
        int done = 0;
        if (line_kind(line) == LINE_OPTION && eq) {
            *eq = '\0';
            for (int e = 0; e < ned; ++e)
                if (ed[e].layer == layer && !strcmp(ed[e].key, line)) {
                    emitf(w, "%s=%s", line, ed[e].value);
                    applied[e] = done = 1;
                }
            if (!done && rk && !strcmp(rk, line)) {
                int refs[MAX_REFS], n = map_refs(cf, sp, layer, eq + 1, refs);
                if (n < 0) { free(line); return -1; }
                char list[MAX_REFS * 12] = "";
                for (int r = 0; r < n; ++r) append(list, sizeof list, "%s%d", r ? "," : "", refs[r]);
                emitf(w, "%s=%s", line, list);
                done = 1;
            }
        }
        if (!done && !is_generated(raw)) emit(w, raw);
        free(line);
    }
    for (int e = 0; e < ned; ++e)
        if (ed[e].layer == layer && !applied[e]) emitf(w, "%s=%s", ed[e].key, ed[e].value);
    return 0;
}

/* header, then [net] and the pieces in order, then the source's closing comments. */
static int write_cfg(FILE *out, const cfg_file *cf, const char *header, const edit *ed, int ned,
                     const piece *pc, int npc)
{
    writer w = {out, 1};
    emit_text(&w, header);
    if (write_section(&w, cf, 0, NULL, ed, ned)) return -1;
    int written = 0;
    for (int p = 0; p < npc; ++p) {
        if (pc[p].text) emit_text(&w, pc[p].text);
        if (pc[p].sp) {
            const span *sp = pc[p].sp;
            if (sp->dst != written)
                return fail("internal error: %s placed at %d, not %d", sp->what, sp->dst, written);
            for (int i = sp->lo; i < sp->hi; ++i)
                if (write_section(&w, cf, i + 1, sp, ed, ned)) return -1;
        }
        written += pc[p].layers;
    }
    emit_lines(&w, &cf->tail);
    return 0;
}

/* Writes the cfg into memory first, so that a refused conversion leaves no half-written file. */
static int write_cfg_file(const char *path, const cfg_file *cf, const char *header, const edit *ed,
                          int ned, const piece *pc, int npc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int rc = write_cfg(m, cf, header, ed, ned, pc, npc);
    fclose(m);
    if (!rc) {
        FILE *f = fopen(path, "w");
        if (!f) rc = fail("%s: cannot write: %s", path, strerror(errno));
        else {
            if (fwrite(buf, 1, len, f) != len) rc = fail("%s: write failed: %s", path, strerror(errno));
            if (fclose(f)) rc = fail("%s: write failed: %s", path, strerror(errno));
        }
    }
    free(buf);
    return rc;
}

/* ---- the layouts ------------------------------------------------------------------------------ */

/* BASE with n layers converted at N: branch A, branch B, head. */
static void convert_spans(span sp[3], int N, int n)
{
    sp[0] = (span){"branch A", 0, N, 0, -1, -1, NULL, 0};
    sp[1] = (span){"branch B", 0, N, N + 1, -1, -1, NULL, 0};
    sp[2] = (span){"head", N, n, 2 * N + 2, N - 1, 2 * N + 1, "the backbone output that [siamese] mixes", 1};
}

/* Branch A (B = 0) or B (B = 1) and the head of an SE cfg whose [branch] is layer br and [siamese]
 * layer sm: the head reads the branch end where it read [siamese]. */
static void export_spans(span sp[2], int B, int br, int sm, int n)
{
    int lo = B ? br + 1 : 0, hi = B ? sm : br;
    sp[0] = (span){B ? "branch B" : "branch A", lo, hi, 0, -1, -1, NULL, 0};
    sp[1] = (span){"head", sm + 1, n, hi - lo, sm, hi - lo - 1, "the [siamese] layer", 0};
}

/* Finds the one [branch] (br) and one [siamese] (sm) of an SE cfg in the layout `cfg` writes. */
static int se_layout(const cfg_file *cf, int *br, int *sm)
{
    int nb = 0, ns = 0;
    for (int i = 0; i < nlayers(cf); ++i) {
        if (is_section(cf, i, "[branch]")) { *br = i; ++nb; }
        if (is_section(cf, i, "[siamese]")) { *sm = i; ++ns; }
    }
    if (nb != 1 || ns != 1)
        return fail("%s: %d [branch] and %d [siamese] sections; se-convert handles exactly one of each",
                    cf->path, nb, ns);
    const cfg_section *b = lsec(cf, *br), *s = lsec(cf, *sm);
    if (!(0 < *br && *br + 1 < *sm && *sm + 1 < nlayers(cf)))
        return fail("%s: [branch] at layer %d and [siamese] at layer %d do not enclose two non-empty branches "
                    "followed by a head", cf->path, *br, *sm);
    if (option_find(b->dn->options, "from"))
        return fail("%s:%d: [branch] from=: branch B starts from a shared stem, which se-convert does not handle",
                    cf->path, b->line);
    const char *v = option_find(s->dn->options, "layers");
    if (v) {
        char want[64];
        snprintf(want, sizeof want, "%d,%d", *br - 1, *sm - 1);
        int a, c;
        char end;
        if (sscanf(v, "%d,%d%c", &a, &c, &end) != 2 || (a < 0 ? *sm + a : a) != *br - 1 ||
            (c < 0 ? *sm + c : c) != *sm - 1)
            return fail("%s:%d: [siamese] layers=%s: se-convert handles [siamese] mixing the layers right before "
                        "[branch] and before itself (%s)", cf->path, s->line, v, want);
    }
    return 0;
}

/* ---- networks and weights -------------------------------------------------------------------- */

/* Parses cf with batch=1: a cfg's training batch would have Darknet allocate batch-sized buffers
 * in every layer (gigabytes for ImageNet cfgs) to move a few megabytes of weights. The copy lives
 * in a memfd, so nothing is left behind if Darknet's parser exits. */
static network *parse_batch1(const cfg_file *cf)
{
    int fd = memfd_create("se-convert-cfg", 0);
    FILE *f = fd < 0 ? NULL : fdopen(dup(fd), "w");
    if (!f) { fail("%s: cannot make an in-memory copy: %s", cf->path, strerror(errno)); return NULL; }
    edit ed[] = {{-1, "batch", "1"}, {-1, "subdivisions", "1"}};
    span all = {"network", 0, nlayers(cf), 0, -1, -1, NULL, 0};
    piece pc = {&all, NULL, nlayers(cf)};
    int rc = write_cfg(f, cf, "", ed, 2, &pc, 1);
    fclose(f);
    network *net = NULL;
    if (!rc) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        fprintf(stderr, "se-convert: parsing %s (a batch=1 copy, %s)\n", cf->path, path);
        net = parse_network_cfg(path);
    }
    close(fd);
    return net;
}

typedef struct { float *p; size_t n; } param_array;

/* The parameter arrays a weights file holds for a layer (save_weights_upto's list); -1 for
 * recurrent layers, which keep theirs in sub-layers. */
static int layer_params(const layer *l, param_array a[5])
{
    size_t units, w;
    switch (l->type) {
    case CONVOLUTIONAL: case DECONVOLUTIONAL: units = l->n; w = l->nweights; break;
    case CONNECTED: units = l->outputs; w = (size_t)l->outputs * l->inputs; break;
    case LOCAL: units = l->outputs; w = (size_t)l->size * l->size * l->c * l->n * l->out_w * l->out_h; break;
    case BATCHNORM:
        a[0] = (param_array){l->scales, l->c};
        a[1] = (param_array){l->rolling_mean, l->c};
        a[2] = (param_array){l->rolling_variance, l->c};
        return 3;
    case RNN: case GRU: case LSTM: case CRNN: return -1;
    default: return 0;
    }
    int k = 0;
    a[k++] = (param_array){l->biases, units};
    a[k++] = (param_array){l->weights, w};
    if (l->batch_normalize) {
        a[k++] = (param_array){l->scales, units};
        a[k++] = (param_array){l->rolling_mean, units};
        a[k++] = (param_array){l->rolling_variance, units};
    }
    return k;
}

/* Rejects layers whose keys change what a weights file holds; returns the parameter count. */
static long long net_params(const network *net, const char *cfgpath)
{
    long long total = 0;
    for (int i = 0; i < net->n; ++i) {
        const layer *l = &net->layers[i];
        if (l->dontload || l->dontsave || l->numload || l->dontloadscales)
            return fail("%s: layer %d sets dontload, dontsave, numload or dontloadscales, which change a weights "
                        "file's layout; remove them to convert", cfgpath, i);
        param_array a[5];
        int k = layer_params(l, a);
        if (k < 0)
            return fail("%s: layer %d [%s]: recurrent layers are not supported", cfgpath, i, get_layer_string(l->type));
        while (k--) total += (long long)a[k].n;
    }
    return total;
}

/* Darknet's loader checks nothing (a short file leaves layers half loaded): check the size first. */
static int load_checked(network *net, const char *cfgpath, const char *wpath)
{
    long long params = net_params(net, cfgpath);
    if (params < 0) return -1;
    FILE *f = fopen(wpath, "rb");
    if (!f) return fail("%s: cannot read: %s", wpath, strerror(errno));
    int v[3];
    struct stat st;
    int ok = fread(v, sizeof(int), 3, f) == 3 && fstat(fileno(f), &st) == 0;
    fclose(f);
    if (!ok) return fail("%s: not a Darknet weights file (too short)", wpath);
    /* load_weights_upto's rule: format 0.2 and later store `seen` as size_t, older ones as int. */
    int big_seen = (v[0] * 10 + v[1]) >= 2 && v[0] < 1000 && v[1] < 1000;
    long long header = 3 * sizeof(int) + (big_seen ? sizeof(size_t) : sizeof(int));
    long long want = header + 4 * params;
    if ((long long)st.st_size != want)
        return fail("%s: %lld bytes, but %s needs %lld (a %lld-byte header and %lld parameters): the weights of "
                    "another cfg?", wpath, (long long)st.st_size, cfgpath, want, header, params);
    load_weights(net, (char *)wpath);
    return 0;
}

/* Copies every span's parameters from src into dst, after checking each pair of layers has the
 * same type, output channels and parameter shapes. */
static int copy_params(network *dst, const char *dstpath, const network *src, const char *srcpath,
                       const span *sp, int nsp)
{
    for (int s = 0; s < nsp; ++s)
        for (int i = sp[s].lo; i < sp[s].hi; ++i) {
            int j = span_map(&sp[s], i);
            const layer *a = &src->layers[i];
            layer *b = &dst->layers[j];
            param_array pa[5], pb[5];
            int na = layer_params(a, pa), nb = layer_params(b, pb);
            int same = a->type == b->type && a->out_c == b->out_c && na == nb;
            for (int k = 0; same && k < na; ++k) same = pa[k].n == pb[k].n;
            if (!same)
                return fail("%s: layer %d [%s] (%s, %d channels) does not match %s layer %d [%s] (%d channels) "
                            "in type, channels or parameter shapes", dstpath, j, get_layer_string(b->type),
                            sp[s].what, b->out_c, srcpath, i, get_layer_string(a->type), a->out_c);
            for (int k = 0; k < na; ++k) memcpy(pb[k].p, pa[k].p, pa[k].n * sizeof(float));
        }
    return 0;
}

/* Makes sure Darknet's save_weights can open the file: it exits with status 0 when it cannot. */
static int writable(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) return fail("%s: cannot write: %s", path, strerror(errno));
    fclose(f);
    return 0;
}

/* ---- command line ------------------------------------------------------------------------------ */

static int usage(void)
{
    fprintf(stderr,
        "usage: se-convert cfg BASE.cfg OUT.cfg [--at N] [--alpha A] [--beta B] [--mode batch|sample]\n"
        "                  [--pairing shuffle|same|other|self] [--test-lambda T] [--seed S] [--classes K]\n"
        "                  [--width W] [--height H] [--channels C] [--batch B] [--subdivisions S]\n"
        "                  [--net KEY=VALUE]...\n"
        "       se-convert weights BASE.cfg BASE.weights SE.cfg SE.weights\n"
        "       se-convert export SE.cfg SE.weights OUT.cfg OUT.weights [--branch A|B]\n"
        "(the opening comment of scripts/se-convert.c explains them)\n");
    return 2;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, double lo, double hi, int open_lo)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v > hi || (open_lo ? v <= lo : v < lo)) return -1;
    return 0;
}

static int in_list(const char *s, const char *const *names, int n)
{
    for (int k = 0; k < n; ++k) if (!strcmp(s, names[k])) return 0;
    return -1;
}

/* Option values as the layer will read them; checked here so the cfg never fails later. */
typedef enum { V_POS_FLOAT, V_UNIT_FLOAT, V_MODE, V_PAIRING, V_SEED, V_POS_INT } value_kind;

static int check_value(value_kind k, const char *v)
{
    long x;
    switch (k) {
    case V_POS_FLOAT:  return parse_float(v, 0, INFINITY, 1);
    case V_UNIT_FLOAT: return parse_float(v, 0, 1, 0);
    case V_MODE:       return in_list(v, mix_mode_names, 2);
    case V_PAIRING:    return in_list(v, mix_pairing_names, 4);
    case V_SEED:       return parse_int(v, 0, INT_MAX, &x);
    case V_POS_INT:    return parse_int(v, 1, INT_MAX, &x);
    }
    return -1;
}

static const char *const kind_text[] = {"a number > 0", "a number in [0,1]", "batch or sample",
                                        "shuffle, same, other or self", "an integer >= 0", "an integer >= 1"};

/* cfg's value options: [siamese] keys and [net] shortcuts. */
static const struct { const char *opt, *key; value_kind kind; int net; } value_opts[] = {
    {"--alpha", "alpha", V_POS_FLOAT, 0},       {"--beta", "beta", V_POS_FLOAT, 0},
    {"--mode", "mode", V_MODE, 0},              {"--pairing", "pairing", V_PAIRING, 0},
    {"--test-lambda", "test_lambda", V_UNIT_FLOAT, 0}, {"--seed", "seed", V_SEED, 0},
    {"--width", "width", V_POS_INT, 1},         {"--height", "height", V_POS_INT, 1},
    {"--channels", "channels", V_POS_INT, 1},   {"--batch", "batch", V_POS_INT, 1},
    {"--subdivisions", "subdivisions", V_POS_INT, 1},
};
enum { N_VALUE_OPTS = sizeof value_opts / sizeof value_opts[0] };

/* "se-convert cfg a b --alpha 0.2", for the header of what we write. */
static void command_line(char *buf, size_t size, int argc, char **argv)
{
    buf[0] = '\0';
    append(buf, size, "se-convert");
    for (int k = 1; k < argc; ++k) append(buf, size, " %s", argv[k]);
}

static int cmd_cfg(int argc, char **argv)
{
    const char *pos[2], *at_opt = NULL, *classes = NULL, *siamese_val[N_VALUE_OPTS] = {0};
    edit ed[MAX_EDITS];
    int npos = 0, ned = 0;
    for (int k = 2; k < argc; ++k) {
        const char *a = argv[k];
        if (strncmp(a, "--", 2)) {
            if (npos == 2) return usage();
            pos[npos++] = a;
            continue;
        }
        if (k + 1 >= argc) { fprintf(stderr, "se-convert: %s needs a value\n", a); return usage(); }
        const char *v = argv[++k];
        long x;
        int o = 0;
        while (o < N_VALUE_OPTS && strcmp(a, value_opts[o].opt)) ++o;
        if (ned == MAX_EDITS - 1) { fprintf(stderr, "se-convert: too many [net] keys\n"); return 2; }
        if (o < N_VALUE_OPTS) {
            if (check_value(value_opts[o].kind, v)) {
                fprintf(stderr, "se-convert: %s %s: must be %s\n", a, v, kind_text[value_opts[o].kind]);
                return 2;
            }
            if (value_opts[o].net) ed[ned++] = (edit){-1, value_opts[o].key, v};
            else siamese_val[o] = v;
        } else if (!strcmp(a, "--net")) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1] || strpbrk(v, " \t#;[")) {
                fprintf(stderr, "se-convert: --net %s: expected KEY=VALUE without spaces\n", v);
                return 2;
            }
            /* split in place (argv strings are writable): nothing to copy, nothing to free */
            *(char *)eq = '\0';
            ed[ned++] = (edit){-1, v, eq + 1};
        } else if (!strcmp(a, "--at")) {
            if (parse_int(v, 0, INT_MAX, &x)) {
                fprintf(stderr, "se-convert: --at %s: must be a layer index\n", v);
                return 2;
            }
            at_opt = v;
        } else if (!strcmp(a, "--classes")) {
            if (check_value(V_POS_INT, v)) {
                fprintf(stderr, "se-convert: --classes %s: must be %s\n", v, kind_text[V_POS_INT]);
                return 2;
            }
            classes = v;
        } else {
            fprintf(stderr, "se-convert: unknown option %s\n", a);
            return usage();
        }
    }
    if (npos != 2) return usage();
    const char *base = pos[0], *outp = pos[1];

    static cfg_file cf;   /* static: freed by main (free_cfg_files) */
    if (read_cfg_file(base, &cf) || check_layers(&cf, 0)) return 1;
    int n = nlayers(&cf), C = classifier_layer(&cf), N;
    if (n < 2) return fail("%s: %d layer; a backbone and a head need at least two", base, n);
    if (at_opt) {
        N = atoi(at_opt);
        if (N < 1 || N >= n)
            return fail("%s: --at %d: the mixing point must be a layer from 1 (branches of at least one layer) to "
                        "%d (a head of at least one layer)", base, N, n - 1);
    } else {
        if (C < 0) return fail("%s: no layer with weights, so no classifier to put in the head; give --at", base);
        for (N = C; N > 0 && lsec(&cf, N - 1)->lt == DROPOUT; --N) {}
        if (N == 0)
            return fail("%s: the classifier (layer %d) has nothing before it to duplicate; give --at", base, C);
    }
    if (classes) {
        if (C < 0) return fail("%s: --classes: no layer with weights to set the outputs of", base);
        ed[ned++] = (edit){C, lsec(&cf, C)->lt == CONNECTED ? "output" : "filters", classes};
    }

    span sp[3];
    convert_spans(sp, N, n);
    char header[4096], cmd[2048], branch_text[512], siamese_text[1024], a_text[256];
    command_line(cmd, sizeof cmd, argc, argv);
    snprintf(header, sizeof header,
             GEN " a Siamese Ensemble generated from %s by\n"
             GEN "   %s\n"
             GEN " mixing point: layer %d %s (%s)\n"
             GEN " layers 0-%d branch A = %s layers 0-%d | %d [branch] | %d-%d branch B = a copy of them |\n"
             GEN " %d [siamese] | %d-%d head = %s layers %d-%d. [route]/[shortcut] indices rewritten to match.\n",
             base, cmd, N, ltype(&cf, N),
             at_opt ? "--at" : "default: the classifier and the [dropout]s right before it",
             N - 1, base, N - 1, N, N + 1, 2 * N, 2 * N + 1, 2 * N + 2, n + N + 1, base, N, n - 1);
    snprintf(a_text, sizeof a_text, "\n" GEN " ---- branch A: layers 0-%d\n", N - 1);
    snprintf(branch_text, sizeof branch_text,
             "\n" GEN " ---- [branch] closes branch A; branch B reads the network input again\n[branch]\n"
             "\n" GEN " ---- branch B: layers %d-%d, a copy of layers 0-%d with its own initialisation\n",
             N + 1, 2 * N, N - 1);
    snprintf(siamese_text, sizeof siamese_text,
             "\n" GEN " ---- [siamese] mixes layers %d and %d, and the labels\n[siamese]\n", N - 1, 2 * N);
    char unset[256] = "";
    for (int o = 0; o < N_VALUE_OPTS; ++o) {
        if (value_opts[o].net) continue;
        if (siamese_val[o]) append(siamese_text, sizeof siamese_text, "%s=%s\n", value_opts[o].key, siamese_val[o]);
        else append(unset, sizeof unset, " %s", value_opts[o].key);
    }
    if (unset[0]) append(siamese_text, sizeof siamese_text, GEN " keys left to their defaults:%s\n", unset);
    append(siamese_text, sizeof siamese_text, "\n" GEN " ---- head: layers %d-%d\n", 2 * N + 2, n + N + 1);
    piece pc[] = {{&sp[0], a_text, N}, {NULL, branch_text, 1}, {&sp[1], NULL, N},
                  {NULL, siamese_text, 1}, {&sp[2], NULL, n - N}};
    if (write_cfg_file(outp, &cf, header, ed, ned, pc, 5)) return 1;
    fprintf(stderr, "se-convert: %s -> %s: branches of %d layers (0-%d), head of %d (%d-%d), %d layers in all\n",
            base, outp, N, N - 1, n - N, N, n - 1, n + N + 2);
    return 0;
}

/* The SE cfg's sections must sit where converting BASE at N puts them, with the same types and
 * [route]/[shortcut] targets. */
static int check_converted(const cfg_file *se, const cfg_file *base, const span *sp, int nsp)
{
    for (int s = 0; s < nsp; ++s)
        for (int i = sp[s].lo; i < sp[s].hi; ++i) {
            int j = span_map(&sp[s], i);
            const cfg_section *a = lsec(base, i), *b = lsec(se, j);
            if (a->lt != b->lt)
                return fail("%s:%d: layer %d is %s, but converting %s puts its layer %d %s there (%s)",
                            se->path, b->line, j, b->dn->type, base->path, i, a->dn->type, sp[s].what);
            const char *key = ref_key(a->lt);
            if (!key) continue;
            int raw[MAX_REFS], want[MAX_REFS], got[MAX_REFS];
            int na = parse_refs(base, i, option_find(a->dn->options, (char *)key), raw, want);
            int nb = parse_refs(se, j, option_find(b->dn->options, (char *)key), raw, got);
            if (na < 0 || nb < 0) return -1;
            int same = na == nb;
            for (int k = 0; same && k < na; ++k) same = got[k] == span_map(&sp[s], want[k]);
            if (!same)
                return fail("%s:%d: layer %d %s does not refer to the layers that %s layer %d does, after conversion",
                            se->path, b->line, j, b->dn->type, base->path, i);
        }
    return 0;
}

static int cmd_weights(int argc, char **argv)
{
    if (argc != 6) return usage();
    const char *bcfg = argv[2], *bw = argv[3], *scfg = argv[4], *sw = argv[5];
    static cfg_file base, se;   /* static: freed by main (free_cfg_files) */
    int br, sm;
    if (read_cfg_file(bcfg, &base) || check_layers(&base, 0) || read_cfg_file(scfg, &se) ||
        check_layers(&se, 1) || se_layout(&se, &br, &sm))
        return 1;
    int N = br, n = nlayers(&base);
    if (sm != 2 * N + 1 || nlayers(&se) != n + N + 2)
        return fail("%s: branches of %d and %d layers, %d layers in all; converting %s at layer %d gives branches "
                    "of %d layers each, %d layers in all: not %s converted", scfg, br, sm - br - 1, nlayers(&se),
                    bcfg, N, N, n + N + 2, bcfg);
    span sp[3];
    convert_spans(sp, N, n);
    if (check_converted(&se, &base, sp, 3)) return 1;

    network *bnet = parse_batch1(&base);
    if (!bnet || load_checked(bnet, bcfg, bw)) return 1;
    network *snet = parse_batch1(&se);
    if (!snet || net_params(snet, scfg) < 0 || copy_params(snet, scfg, bnet, bcfg, sp, 3) || writable(sw)) return 1;
    *snet->seen = 0;   /* a fresh schedule for fine-tuning, as `darknet partial` does */
    save_weights(snet, (char *)sw);
    fprintf(stderr, "se-convert: %s -> %s: layers 0-%d into both branches (0-%d, %d-%d), head %d-%d into %d-%d\n",
            bw, sw, N - 1, N - 1, N + 1, 2 * N, N, n - 1, 2 * N + 2, n + N + 1);
    free_network(snet);
    free_network(bnet);
    return 0;
}

static int cmd_export(int argc, char **argv)
{
    int B = 0;
    if (argc == 8 && !strcmp(argv[6], "--branch") && (!strcmp(argv[7], "A") || !strcmp(argv[7], "B")))
        B = argv[7][0] == 'B';
    else if (argc != 6) return usage();
    const char *scfg = argv[2], *sw = argv[3], *ocfg = argv[4], *ow = argv[5];
    static cfg_file se, out;   /* static: freed by main (free_cfg_files) */
    int br, sm;
    if (read_cfg_file(scfg, &se) || check_layers(&se, 1) || se_layout(&se, &br, &sm)) return 1;
    int n = nlayers(&se);
    span sp[2];
    export_spans(sp, B, br, sm, n);

    network *snet = parse_batch1(&se);
    if (!snet || load_checked(snet, scfg, sw)) return 1;
    char header[2048], cmd[1536];
    command_line(cmd, sizeof cmd, argc, argv);
    snprintf(header, sizeof header,
             GEN " %s (layers %d-%d) and the head (layers %d-%d) of the Siamese Ensemble %s, exported by\n"
             GEN "   %s\n",
             sp[0].what, sp[0].lo, sp[0].hi - 1, sp[1].lo, sp[1].hi - 1, scfg, cmd);
    piece pc[] = {{&sp[0], NULL, sp[0].hi - sp[0].lo}, {&sp[1], NULL, sp[1].hi - sp[1].lo}};
    if (write_cfg_file(ocfg, &se, header, NULL, 0, pc, 2)) return 1;
    network *onet = NULL;
    if (read_cfg_file(ocfg, &out) || !(onet = parse_batch1(&out)) || copy_params(onet, ocfg, snet, scfg, sp, 2) ||
        writable(ow)) {
        unlink(ocfg);
        return 1;
    }
    *onet->seen = *snet->seen;
    save_weights(onet, (char *)ow);
    fprintf(stderr, "se-convert: %s -> %s, %s: %s and the head, %d layers\n", scfg, ocfg, ow, sp[0].what, onet->n);
    free_network(onet);
    free_network(snet);
    return 0;
}

int main(int argc, char **argv)
{
    gpu_index = -1;   /* all work is copying arrays: never touch a GPU, also in GPU=1 builds */
    if (argc < 2) return usage();
    /* Each command returns 0, 2 (usage) or another non-zero value after its message. */
    int rc = !strcmp(argv[1], "cfg") ? cmd_cfg(argc, argv)
           : !strcmp(argv[1], "weights") ? cmd_weights(argc, argv)
           : !strcmp(argv[1], "export") ? cmd_export(argc, argv) : usage();
    free_cfg_files();
    if (rc == 2) return 2;
    /* status 1, telling LeakSanitizer that a command refused halfway holds no leaks */
    if (rc) fatal_exit();
    return 0;
}
