/*
 * config.h — casewatchd's configuration: an INI file read with libinih into a cw_config_t.
 *
 * Keys are described by one declarative table (name, type, default, bounds, reloadable) in
 * config.c. Every librdkafka property passes through unchanged from the [kafka] section (both
 * clients), [kafka.consumer] and [kafka.producer]; it is validated by librdkafka itself at load
 * time so a typo stops startup with file:line. A load that fails leaves nothing behind: the
 * caller keeps whatever config it had (a reload keeps the old one).
 */
#ifndef CASEWATCH_CONFIG_H
#define CASEWATCH_CONFIG_H

#include "casewatch/common.h"
#include "casewatch/log.h"

#include <librdkafka/rdkafka.h>

/** One pass-through property ("bootstrap.servers" = "…") and the line it came from. */
typedef struct cw_config_kv {
    char *key;
    char *value;
    int line;
} cw_config_kv_t;

typedef struct cw_config_kvlist {
    cw_config_kv_t *items;
    int count;
} cw_config_kvlist_t;

typedef struct cw_config {
    char *path; /**< the file it was read from */

    /* [daemon] */
    cw_log_level_t log_level;
    bool log_json;
    int batch_max_events;     /**< a batch is committed when it holds this many events … */
    int batch_max_wait_ms;    /**< … or when its first event is this old */
    int max_message_bytes;    /**< larger messages are dead-lettered as too_large */
    int backoff_initial_ms;   /**< first reconnect delay after a PostgreSQL failure */
    int backoff_max_ms;       /**< cap of the exponential back-off */
    int shutdown_timeout_ms;  /**< TERM/INT: exit after at most this long */
    int metrics_interval_ms;  /**< metric snapshots to the metrics topic; 0 = none */
    char *holidays_file;      /**< extra bank holidays (NULL = the built-in list only) */
    bool event_clock;         /**< clock = event: time is the highest occurred_at seen */
    int merge_idle_ms;        /**< how long a lane at its log end holds back its partition's
                               *   other lanes' newer messages (cross-topic skew) */
    int allowed_lateness_ms;  /**< event clock: the watermark trails it by this much */

    /* [postgres] */
    char *pg_conninfo; /**< libpq conninfo string (may hold sslmode etc.) */

    /* [topics] */
#define CW_MAX_EVENT_TOPICS 16 /**< a partition's lanes, merged by occurred_at ([L]) */
    char **event_topics; /**< co-partitioned input topics, keyed by case_id */
    int n_event_topics;
    char *dead_letter_topic;
    char *alerts_topic;
    char *metrics_topic;
    char *partitioner; /**< the producers' partitioner (partmap.h names), "none" = no check */

    /* [retention] ([I]): days each kind of row is kept (0 = forever), prune batch and pace */
    int retention_outbox_sent_days;         /**< delivered/silenced alert notifications */
    int retention_history_days;             /**< alert_history and resolved alert rows */
    int retention_anomaly_days;             /**< anomalies, by their events' time */
    int retention_dead_letter_payload_days; /**< dead letters' bytes (published ones) */
    int retention_dead_letter_days;         /**< dead letters whole (published ones) */
    int retention_batch;                    /**< rows per prune statement */
    int retention_interval_ms;              /**< between prune rounds; 0 = never */

    /* [admin] */
    char *admin_listen;        /**< "HOST:PORT" or "off" */
    char *admin_token;         /**< bearer token (from token or token_file), NULL = none */
    char *admin_token_file;
    int admin_ready_max_lag;   /**< /readyz fails above this many uncommitted messages */
    int admin_sse_max_clients; /**< concurrent /events streams */
    int admin_max_connections; /**< concurrent admin connections, streams included */
    int admin_request_timeout_ms; /**< a request must arrive whole within this long */
    /** NULL, or why the token can be read by other users (the file and its mode): the daemon
     * warns, or refuses to start with --strict. Owned by the config. */
    char *admin_token_exposed;

    /* [kafka], [kafka.consumer], [kafka.producer] — librdkafka properties, passed through */
    cw_config_kvlist_t kafka;
    cw_config_kvlist_t kafka_consumer;
    cw_config_kvlist_t kafka_producer;
} cw_config_t;

/**
 * @brief Read and validate a configuration file.
 * @param path    the INI file
 * @param errstr  on failure receives every problem, one per line, each "file:line: what was
 *                expected" (line 0 for a missing key)
 * @returns a new config (caller frees with cw_config_free()) or NULL on any error.
 */
cw_config_t *cw_config_load(const char *path, char *errstr, size_t errsz);

/** @brief Free a config; NULL is allowed. */
void cw_config_free(cw_config_t *cfg);

/** @brief The consumer group ([kafka.consumer] group.id, else [kafka]); borrowed from cfg. */
const char *cw_config_group_id(const cw_config_t *cfg);

/**
 * @brief Build a librdkafka conf for a consumer (is_consumer) or producer from [kafka] plus the
 * client-specific section, after the given defaults (overridable by the user).
 * @returns a conf the caller owns (rd_kafka_new takes it over on success), or NULL with errstr.
 */
rd_kafka_conf_t *cw_config_kafka_conf(const cw_config_t *cfg, bool is_consumer,
                                      const char *const *defaults, char *errstr, size_t errsz);

/**
 * @brief A librdkafka conf for the command-line tools: name/value defaults, then "prop=value"
 * overrides (their -X options), applied in order.
 * @param bad  on failure, the default name or the -X argument that librdkafka refused
 * @returns a conf the caller owns, or NULL with errstr (and *bad) set.
 */
rd_kafka_conf_t *cw_kafka_conf_build(const char *const (*defaults)[2], size_t ndefaults,
                                     const char *const *props, size_t nprops, const char **bad,
                                     char *errstr, size_t errsz);

/**
 * @brief Names of keys whose value differs between two configs and cannot change at runtime.
 * Fills buf with a comma-separated list; empty when a reload can apply everything.
 */
void cw_config_diff_static(const cw_config_t *a, const cw_config_t *b, char *buf, size_t bufsz);

/** Called for each "key = value" of an INI file with its line; return false to record an
 * error (the callee writes the reason into why). */
typedef bool (*cw_ini_fn)(void *arg, int line, const char *section, const char *key,
                          const char *value, char *why, size_t whysz);

/**
 * @brief Parse an INI file with libinih, giving every entry its line number.
 * @returns CW_OK, or CW_ERR_CONFIG with every problem as "file:line: why" lines in errstr.
 */
CW_WUR cw_err_t cw_ini_parse(const char *path, cw_ini_fn fn, void *arg, char *errstr,
                             size_t errsz);

/**
 * @brief Split "HOST:PORT" or "[V6]:PORT".
 * @returns CW_OK, or CW_ERR_CONFIG when it does not parse (port outside 0-65535; 0 = any).
 */
CW_WUR cw_err_t cw_listen_parse(const char *s, char *host, size_t hostsz, int *port);

/** @brief True for localhost, ::1 and 127.0.0.0/8. */
bool cw_host_is_loopback(const char *host);

/** @brief Copy every key marked reloadable from src into dst (the live config). */
void cw_config_apply_reloadable(cw_config_t *dst, const cw_config_t *src);

#endif
