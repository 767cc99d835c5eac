/* sections.h: the plugin's built-in cfg sections, one per layer file, for the registry. */
#ifndef PLUGIN_SECTIONS_H
#define PLUGIN_SECTIONS_H

#include "plugin.h"

extern const plugin_section branch_section;    /* branch.c */
extern const plugin_section siamese_section;   /* siamese.c */
extern const plugin_section mixup_section;     /* mixup.c */
extern const plugin_section cutmix_section;    /* cutmix.c */

#endif
