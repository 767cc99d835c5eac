/* registry.c: section name -> parse/check functions, and the two entry points the host calls.
 *
 * No cfg keys of its own. The built-in table lists the plugin's layers; plugin_register_section()
 * adds more at run time (see plugin.h). A section nobody knows makes plugin_parse_section return 0
 * and the host stops with "unknown section [name]".
 */
#include <stdio.h>
#include <string.h>

#include "plugin.h"
#include "sections.h"

static const plugin_section *const builtin_sections[] = {
    &branch_section,
    &siamese_section,
    &mixup_section,
    &cutmix_section,
    NULL
};

/* Registration is process-wide by nature (the host's parser has no context to carry it), so it
 * lives in this one table; it is written only by plugin_register_section. */
enum { MAX_REGISTERED = 32 };
static const plugin_section *registered_sections[MAX_REGISTERED];
static int n_registered;

const plugin_section *plugin_find_section(const char *name)
{
    for (int i = 0; builtin_sections[i]; ++i)
        if (strcmp(builtin_sections[i]->name, name) == 0) return builtin_sections[i];
    for (int i = 0; i < n_registered; ++i)
        if (strcmp(registered_sections[i]->name, name) == 0) return registered_sections[i];
    return NULL;
}

/* parser.c's own section table; not in a header, but not static either. */
LAYER_TYPE string_to_layer_type(char *type);

enum { MAX_NAME = 62 };   /* "[name]" must fit plugin_parse_section's buffer */

int plugin_register_section(const plugin_section *section)
{
    if (!section || !section->name || !section->parse) return -1;
    size_t len = strlen(section->name);
    if (len == 0 || len > MAX_NAME || strpbrk(section->name, "[] \t")) {
        fprintf(stderr, "plugin: cannot register [%s]: a name needs 1-%d characters without brackets or spaces\n",
                section->name, MAX_NAME);
        return -1;
    }
    char header[MAX_NAME + 3];
    snprintf(header, sizeof header, "[%s]", section->name);
    if (string_to_layer_type(header) != BLANK) {
        fprintf(stderr, "plugin: cannot register [%s]: Darknet itself handles that section\n", section->name);
        return -1;
    }
    if (plugin_find_section(section->name)) {
        fprintf(stderr, "plugin: section [%s] is already registered\n", section->name);
        return -1;
    }
    if (n_registered == MAX_REGISTERED) {
        fprintf(stderr, "plugin: cannot register [%s]: at most %d sections\n", section->name, MAX_REGISTERED);
        return -1;
    }
    registered_sections[n_registered++] = section;
    return 0;
}

int plugin_parse_section(const plugin_section_args *args, layer *l)
{
    /* The host passes the header as written, "[name]"; sections are registered by bare name. */
    char name[MAX_NAME + 1];
    size_t len = strlen(args->section);
    if (len < 3 || len - 2 >= sizeof name || args->section[0] != '[' || args->section[len - 1] != ']')
        return 0;
    memcpy(name, args->section + 1, len - 2);
    name[len - 2] = '\0';
    const plugin_section *section = plugin_find_section(name);
    if (!section) return 0;
    plugin_section_args named = *args;
    named.section = section->name;
    layer made = {0};
    if (section->parse(&named, &made)) return -1;
    made.type = PLUGIN;
    if (!made.plugin) {
        plugin_error(&named, NULL, "internal error: parse function set no ops table");
        return -1;
    }
    /* Layers are recognised by their ops table's name (whole-network checks, [siamese] finding
     * its [branch]), so it must be the section's own. */
    if (!made.plugin->name || strcmp(made.plugin->name, section->name) != 0) {
        plugin_error(&named, NULL, "internal error: ops table is named [%s], not [%s]",
                     made.plugin->name ? made.plugin->name : "(null)", section->name);
        return -1;
    }
    *l = made;
    return 1;
}

int plugin_check_network(network *net, const char *cfgfile)
{
    for (int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        if (l->type != PLUGIN) continue;
        const plugin_section *section = plugin_find_section(l->plugin->name);
        if (section && section->check && section->check(net, i, cfgfile)) return -1;
#ifdef GPU
        if (gpu_index >= 0 && (!l->forward_gpu || !l->backward_gpu)) {
            plugin_net_error(cfgfile, i, l->plugin->name,
                             "this layer has no GPU implementation in this build; run with -nogpu");
            return -1;
        }
#endif
    }
    return 0;
}
