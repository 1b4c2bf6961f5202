/*
 * log.h — levelled logging to stderr (journald picks it up) with file:line of the call site.
 *
 * The macros test the level before evaluating their arguments, so a disabled debug line
 * costs one comparison. Log identifiers only: never personal data (there is none in the
 * contract, and free text from input is never logged).
 */
#ifndef CASEWATCH_LOG_H
#define CASEWATCH_LOG_H

#include "casewatch/common.h"

typedef enum cw_log_level {
    CW_LOG_ERROR = 0,
    CW_LOG_WARN = 1,
    CW_LOG_INFO = 2,
    CW_LOG_DEBUG = 3,
} cw_log_level_t;

/** Current threshold; messages above it are dropped. Set once by main(), read everywhere. */
extern cw_log_level_t cw_log_threshold;
/** When true, one JSON object per line instead of plain text. */
extern bool cw_log_json;

/** @brief Parse "error|warn|info|debug"; returns CW_ERR_INVALID on anything else. */
CW_WUR cw_err_t cw_log_level_parse(const char *s, cw_log_level_t *out);

/** @brief Write one log line; use the macros instead. */
void cw_log_write(cw_log_level_t level, const char *file, int line, const char *fmt, ...)
    CW_PRINTF(4, 5);

#define cw_log_at(lvl, ...)                                                                        \
    do {                                                                                           \
        if ((lvl) <= cw_log_threshold)                                                             \
            cw_log_write((lvl), __FILE__, __LINE__, __VA_ARGS__);                                  \
    } while (0)
#define cw_log_error(...) cw_log_at(CW_LOG_ERROR, __VA_ARGS__)
#define cw_log_warn(...) cw_log_at(CW_LOG_WARN, __VA_ARGS__)
#define cw_log_info(...) cw_log_at(CW_LOG_INFO, __VA_ARGS__)
#define cw_log_debug(...) cw_log_at(CW_LOG_DEBUG, __VA_ARGS__)

#endif
