/* plugin.h: the plugin's side of the layer-plugin hook (patches/0001-plugin-hook.patch).
 *
 * Darknet offers every cfg section it does not know to plugin_parse_section(); the registry finds
 * the section by name and calls its parse function, which builds an ordinary `layer` of type PLUGIN
 * with forward/backward/update pointers and an ops table (resize, free). After the whole cfg is
 * parsed, plugin_check_network() runs each section's whole-network check once per layer of it.
 *
 * Built-in sections are listed in registry.c. A program that links libdarknet can add its own
 * before parsing a cfg, in the style of Redis modules:
 *
 *     static int parse_doubler(const plugin_section_args *a, layer *l) { ... return 0; }
 *     static const plugin_section doubler = {"doubler", parse_doubler, NULL};
 *     plugin_register_section(&doubler);
 *
 * The option helpers below give every bad value the same clear message, naming the cfg file,
 * the layer index, the section and the key, e.g.
 *     cfg/x.cfg: layer 7 [siamese]: alpha=abc: not a number
 */
#ifndef DARKNET_PLUGIN_H
#define DARKNET_PLUGIN_H

#include "darknet.h"

/* Returns 0 with *l filled, or -1 after printing an error (the host then exits non-zero). */
typedef int (*plugin_parse_fn)(const plugin_section_args *args, layer *l);
/* Checks rules that need the whole network (e.g. every [branch] has its [siamese]); called once
 * for each layer `index` made by this section. Returns 0, or -1 after printing an error. */
typedef int (*plugin_check_fn)(network *net, int index, const char *cfgfile);

typedef struct plugin_section {
    const char *name;          /* cfg section name without brackets, e.g. "siamese" */
    plugin_parse_fn parse;
    plugin_check_fn check;     /* may be NULL */
} plugin_section;

/* Adds a section type at run time. Returns 0, or -1 if the name is taken (by Darknet's plugin
 * registry, built-in or registered) or the table is full. Not thread-safe: register before
 * parsing networks. */
int plugin_register_section(const plugin_section *section);
/* The registered section of that name, or NULL. */
const plugin_section *plugin_find_section(const char *name);

/* ---- layers ---------------------------------------------------------------------------------- */
/* A PLUGIN layer whose input and output are (batch, outputs) of shape w x h x c, with zeroed output
 * and delta buffers; the caller sets forward/backward. */
layer plugin_make_layer(const plugin_layer_ops *ops, void *state, int batch, int w, int h, int c, int outputs);
/* New shape for resize: reallocates output and delta. 0, or -1 after printing an error. */
int plugin_reshape_layer(layer *l, int w, int h, int c, int outputs);
/* resize callback of a layer whose output has its input's shape (w x h x its channels). */
int plugin_resize_like_input(layer *l, network *net, int w, int h);

/* ---- option helpers for parse functions ------------------------------------------------------- */
/* Each returns 0 (value or default stored in *out) or -1 after printing an error. */
int plugin_opt_float(const plugin_section_args *a, const char *key, float def, float *out);
int plugin_opt_int(const plugin_section_args *a, const char *key, int def, int *out);
/* The value as written (def when the key is absent). */
int plugin_opt_string(const plugin_section_args *a, const char *key, const char *def, const char **out);
/* Index of the value among choices[0..n), or def when the key is absent. */
int plugin_opt_choice(const plugin_section_args *a, const char *key, const char *const *choices,
                      int n, int def, int *out);
/* Comma-separated integers; *count = number read (0 when the key is absent). */
int plugin_opt_int_list(const plugin_section_args *a, const char *key, int *vals, int max, int *count);
/* Is the key present at all (does not mark it used)? */
int plugin_opt_present(const plugin_section_args *a, const char *key);
/* Errors on any key that is neither in known[] (NULL-terminated) nor one of the generic keys
 * Darknet reads for every layer (stopbackward, learning_rate, ...). Call after reading options. */
int plugin_opt_reject_unknown(const plugin_section_args *a, const char *const *known);
/* Prints "<cfg>: layer <i> [<section>]: <key=value: >message" to stderr. key may be NULL. */
void plugin_error(const plugin_section_args *a, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, for whole-network checks: "<cfg>: layer <i> [<section>]: message". */
void plugin_net_error(const char *cfgfile, int index, const char *section, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
