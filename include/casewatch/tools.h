/*
 * tools.h — what the command-line tools in daemon/ (casewatch-gen, -produce, -naive,
 * -seed-cases) share: strict argument parsing, the seeded draws of the load generators, a
 * monotonic clock in seconds, and their Kafka producer setup and error report.
 *
 * Nothing here is used by casewatchd. Messages go to stderr prefixed with the tool's name
 * (`prog`); nothing is kept between calls.
 */
#ifndef CASEWATCH_TOOLS_H
#define CASEWATCH_TOOLS_H

#include "casewatch/common.h"

#include <librdkafka/rdkafka.h>

/**
 * @brief Parse an unsigned decimal that must fill the whole argument (no sign, no spaces).
 * @returns 0 with *out set, or -1 (NULL, empty, negative, trailing bytes, out of range).
 */
int cw_tools_parse_u64(const char *s, uint64_t *out);

/**
 * @brief Take one -X PROP=VALUE argument: append arg to props[*nprops] (room for one more is
 *        the caller's), or print why it is not of that form.
 * @returns 0, or 2 (the usage-error exit status) after the message.
 */
int cw_tools_add_prop(const char *prog, const char *arg, const char **props, size_t *nprops);

/**
 * @brief After getopt: refuse operands, for tools that take none.
 * @param first getopt's optind: the index of the first operand
 * @returns 0, or 2 (the usage-error exit status) after naming the first operand.
 */
int cw_tools_no_operands(const char *prog, int argc, char **argv, int first);

/** @brief The next seeded draw in [0, n): cw_splitmix64() modulo n (n > 0). */
uint32_t cw_tools_rand_below(uint64_t *state, uint32_t n);

/** @brief Monotonic clock in seconds, nanosecond resolution (for rates and elapsed times). */
double cw_tools_mono_s(void);

/** librdkafka's delivery report and error callbacks, as a tool's producer sets them. */
typedef void cw_tools_dr_fn(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
typedef void cw_tools_error_fn(rd_kafka_t *rk, int err, const char *reason, void *opaque);

/**
 * @brief Create a tool's Kafka producer from name/value defaults then its -X overrides
 *        (see cw_kafka_conf_build()), with the given delivery and error callbacks and opaque.
 * @param prog      the tool's name, for the messages
 * @param props     the -X "prop=value" arguments (borrowed)
 * @param bad_conf  set to true when a default or a -X property was refused (a usage error)
 * @returns the producer (it owns its conf; destroy with rd_kafka_destroy()), or NULL after
 *          printing why.
 */
rd_kafka_t *cw_tools_producer_new(const char *prog, const char *const (*defaults)[2],
                                  size_t ndefaults, const char *const *props, size_t nprops,
                                  void *opaque, cw_tools_dr_fn *dr_msg_cb,
                                  cw_tools_error_fn *error_cb, bool *bad_conf);

/**
 * @brief Learn the partitions of each of a producer's topics before its first message (a
 *        metadata request per topic): a topic first produced to in the middle of a burst
 *        otherwise waits for its own lookup behind the other topics' messages, appended
 *        hundreds of milliseconds after messages that were produced after its own.
 * @returns 0, or -1 after printing which topic is not known within timeout_ms (the messages
 *          still go; librdkafka goes on looking it up).
 */
int cw_tools_producer_learn_topics(const char *prog, rd_kafka_t *rk, const char *const *topics,
                                   size_t ntopics, int timeout_ms);

/**
 * @brief Report a librdkafka error callback's error on stderr, for a tool's error_cb.
 * @returns true if the error is fatal (the producer cannot go on: the caller stops sending),
 *          false for a transient one librdkafka recovers from itself.
 */
bool cw_tools_kafka_error(const char *prog, rd_kafka_t *rk, int err, const char *reason);

#endif
