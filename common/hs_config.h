/* hs_config.h: configuration files (/etc/hugeshim.conf and the file named
 * by HUGESHIM_CONFIG): the same options as the HUGESHIM_* variables, by
 * program.
 *
 *   # a comment
 *   backing = thp                  # before any section, or under [default]:
 *   [default]                      #   every program
 *   stats = /var/log/hugeshim/%p.json
 *   [redis-server memcached]       # programs by name (executable or argv[0]),
 *   migrate = on                   #   glob patterns: * ? [a-z] [!x]
 *   [/opt/db/bin/db-?]             # a pattern with '/' matches the executable's path
 *   heap-thp = eager
 *
 * Names are the variables' without HUGESHIM_ (any case, '-' or '_');
 * values and their errors are the variables'.  Precedence: environment >
 * matching sections (later lines win) > default sections > built in; the
 * system file is read before HUGESHIM_CONFIG's at each level.  Files are read
 * with raw calls into a static buffer (no allocation: safe in any process,
 * /etc/ld.so.preload included); a bad line is reported in one line naming
 * file and line and is ignored; a file that cannot be read or is larger than
 * HS_CONFIG_MAX_BYTES is reported (a missing system file silently) and
 * ignored. */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <stddef.h>

#include "hs_options.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef HS_CONFIG_SYSTEM
#define HS_CONFIG_SYSTEM "/etc/hugeshim.conf"
#endif
#define HS_CONFIG_MAX_BYTES (64 * 1024)

/* The program sections are matched against. */
typedef struct hs_config_program {
    const char *exe_name; /* base name of the executable */
    const char *argv0;    /* base name of argv[0], or NULL */
    const char *exe_path; /* full path of the executable, or NULL */
} hs_config_program_t;

/* Everything, in order: defaults, the configuration files' default sections,
 * their sections matching prog, the environment.  HUGESHIM_CONFIG (from envp)
 * names the second file; "none" reads no file at all.  Returns the number of
 * problems reported. */
int hs_options_load(hs_options_t *o, char *const *envp, const hs_config_program_t *prog, hs_opt_report_fn report,
                    void *ctx);

/* Apply one file's text (NUL-terminated): pass 0 its default sections, pass
 * 1 its sections matching prog.  file_index is its slot in o->files. */
int hs_config_apply(hs_options_t *o, int file_index, const char *text, int pass, const hs_config_program_t *prog,
                    hs_opt_report_fn report, void *ctx);

/* Does a glob pattern (* ? [set] [!set] [a-z]) match text whole? */
bool hs_config_glob(const char *pattern, size_t plen, const char *text);

/* Where option id's value came from, for people: "built in", "environment",
 * "/etc/hugeshim.conf:3, default section",
 * "/etc/hugeshim.conf:9, section for this program". */
void hs_option_source_text(const hs_options_t *o, int id, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
