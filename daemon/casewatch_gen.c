/*
 * casewatch_gen.c — casewatch-gen: publish realistic, calibrated family-court case lifecycles
 * (src/gen.c) to Kafka and/or a length-delimited file, with optional pacing and faults.
 *
 *   casewatch-gen [--seed S] [--days N] [--warmup-days N] [--scale F] [--end-date YYYY-MM-DD]
 *                 [--speed X | --asap] [--kafka BOOTSTRAP] [--topic T] [--hearing-topic T]
 *                 [--out-file F] [--dup-rate P] [--reorder-rate P] [--late-rate P]
 *                 [--bad-rate P] [--bad-in-file] [--truth FILE] [--scenario-rate P]
 *                 [--holidays FILE] [-X prop=val]... [--progress]
 *
 * Owns: the generator, one idempotent librdkafka producer (acks=all) when --kafka is given,
 * the output file, the fault stage (held late / reordered / duplicate messages) and the
 * ground-truth JSON writer. Messages are keyed by case_id (area events: by court area);
 * hearing_* events go to the hearing topic, everything else to the case topic. With both
 * --kafka and --out-file, the file is the exact record of what was published, in order,
 * duplicates and reorders included, garbage excluded (unless --bad-in-file).
 *
 * The file format is the standard protobuf delimited format: each message is a base-128
 * varint length followed by that many bytes of casewatch.v1.Event.
 *
 * Faults are drawn from their own PRNG seeded from --seed, so a run is repeatable. With
 * --speed X, the window's events are paced so that X simulated seconds pass per wall second
 * (the warm-up history goes out as fast as possible first); --asap (the default) never waits.
 *
 * INT/TERM stop generation at the next event, flush what was produced, write the truth (which
 * then describes the partial run) and exit 1; a second INT/TERM during the flush exits at once.
 * The signals are blocked and polled with sigpending(), so there is no handler and no global.
 *
 * Exit status: 0 done, 1 a delivery, I/O or internal failure (or interrupted), 2 bad usage.
 */
#include "casewatch/config.h"
#include "casewatch/common.h"
#include "casewatch/event.h"
#include "casewatch/gen.h"
#include "casewatch/tools.h"
#include "casewatch/workdays.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GEN_FLUSH_MS         120000 /* how long to wait for the last delivery reports */
#define GEN_METADATA_MS      10000  /* how long to wait for the topics' partitions at start */
#define GEN_REORDER_WINDOW   256    /* a reordered event waits at most this many messages */
#define GEN_DUP_WINDOW       50     /* a duplicate follows its original within this many */
#define GEN_LATE_MIN_DAYS    1      /* late events arrive 1..14 simulated days after occurred_at */
#define GEN_LATE_MAX_DAYS    14
#define GEN_MAX_ERRORS_SHOWN 5

/* ---- options ------------------------------------------------------------------------- */

typedef struct gen_opts {
    cw_gen_config_t cfg;
    const char *end_date;
    double speed; /* 0: as fast as possible */
    const char *kafka;
    const char *topic, *hearing_topic;
    const char *out_file;
    double dup_rate, reorder_rate, late_rate, bad_rate;
    bool bad_in_file;
    const char *truth;
    const char *holidays;
    const char **props;
    size_t n_props;
    bool progress;
} gen_opts_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: casewatch-gen [options]\n"
            "\n"
            "Simulate family-court case lifecycles calibrated to the national figures and\n"
            "publish them as casewatch.v1.Event messages (Kafka and/or a delimited file).\n"
            "\n"
            "  --seed S              generator seed (default 1); event ids are g<S>-<n>\n"
            "  --days N              simulated window in days (default 365)\n"
            "  --warmup-days N       history before the window, emitted too (default 1095)\n"
            "  --scale F             volume factor, 0.1 = a tenth (default 1.0)\n"
            "  --end-date YYYY-MM-DD last day of the window (default today, UTC; not later)\n"
            "  --speed X             pace the window: X simulated seconds per wall second\n"
            "                        (the warm-up history is sent at once first)\n"
            "  --asap                no pacing (default)\n"
            "  --kafka BOOTSTRAP     publish to Kafka (idempotent producer, acks=all)\n"
            "  --topic T             case events topic (default casewatch.case-events)\n"
            "  --hearing-topic T     hearing_* events topic (default casewatch.hearing-events)\n"
            "  --out-file F          also write every message, length-delimited (varint + bytes)\n"
            "  --dup-rate P          re-send a share P of events (same bytes) a little later\n"
            "  --reorder-rate P      swap a share P of events with a later event of their case\n"
            "  --late-rate P         deliver a share P of events 1-14 simulated days late\n"
            "  --bad-rate P          add undecodable garbage after a share P of events (Kafka)\n"
            "  --bad-in-file         write the garbage to --out-file too\n"
            "  --truth FILE          write the ground truth as JSON\n"
            "  --scenario-rate P     share of window cases given an alert scenario (0.004)\n"
            "  --holidays FILE       extra bank holidays, one YYYY-MM-DD per line\n"
            "  -X PROP=VALUE         extra librdkafka producer property (repeatable)\n"
            "  --progress            print progress to stderr every second\n"
            "  -h, --help            this text\n");
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* Returns 0, 2 on bad usage (message printed), -1 after --help. */
static int parse_opts(int argc, char **argv, gen_opts_t *o)
{
    enum {
        O_SEED = 256,
        O_DAYS,
        O_WARMUP,
        O_SCALE,
        O_END,
        O_SPEED,
        O_ASAP,
        O_KAFKA,
        O_TOPIC,
        O_HTOPIC,
        O_OUT,
        O_DUP,
        O_REORDER,
        O_LATE,
        O_BAD,
        O_BAD_FILE,
        O_TRUTH,
        O_SCEN,
        O_HOLIDAYS,
        O_PROGRESS
    };
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, O_SEED},
        {"days", required_argument, NULL, O_DAYS},
        {"warmup-days", required_argument, NULL, O_WARMUP},
        {"scale", required_argument, NULL, O_SCALE},
        {"end-date", required_argument, NULL, O_END},
        {"speed", required_argument, NULL, O_SPEED},
        {"asap", no_argument, NULL, O_ASAP},
        {"kafka", required_argument, NULL, O_KAFKA},
        {"topic", required_argument, NULL, O_TOPIC},
        {"hearing-topic", required_argument, NULL, O_HTOPIC},
        {"out-file", required_argument, NULL, O_OUT},
        {"dup-rate", required_argument, NULL, O_DUP},
        {"reorder-rate", required_argument, NULL, O_REORDER},
        {"late-rate", required_argument, NULL, O_LATE},
        {"bad-rate", required_argument, NULL, O_BAD},
        {"bad-in-file", no_argument, NULL, O_BAD_FILE},
        {"truth", required_argument, NULL, O_TRUTH},
        {"scenario-rate", required_argument, NULL, O_SCEN},
        {"holidays", required_argument, NULL, O_HOLIDAYS},
        {"progress", no_argument, NULL, O_PROGRESS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    memset(o, 0, sizeof *o);
    cw_gen_config_init(&o->cfg);
    o->topic = "casewatch.case-events";
    o->hearing_topic = "casewatch.hearing-events";
    o->props = cw_calloc((size_t)argc + 1, sizeof *o->props);

    int c;
    uint64_t u;
    while ((c = getopt_long(argc, argv, "X:h", longopts, NULL)) != -1) {
        switch (c) {
        case O_SEED:
            if (cw_tools_parse_u64(optarg, &u) != 0)
                goto bad_number;
            o->cfg.seed = u;
            break;
        case O_DAYS:
        case O_WARMUP:
            if (cw_tools_parse_u64(optarg, &u) != 0 || u > 3660) {
                fprintf(stderr, "casewatch-gen: --%s expects 0..3660 days\n",
                        c == O_DAYS ? "days" : "warmup-days");
                return 2;
            }
            if (c == O_DAYS)
                o->cfg.days = (int)u;
            else
                o->cfg.warmup_days = (int)u;
            break;
        case O_SCALE:
            if (parse_double(optarg, 1e-6, 100, &o->cfg.scale) != 0) {
                fprintf(stderr, "casewatch-gen: --scale expects a number in (0, 100]\n");
                return 2;
            }
            break;
        case O_END:
            o->end_date = optarg;
            break;
        case O_SPEED:
            if (parse_double(optarg, 1e-9, 1e12, &o->speed) != 0) {
                fprintf(stderr, "casewatch-gen: --speed expects a positive number\n");
                return 2;
            }
            break;
        case O_ASAP:
            o->speed = 0;
            break;
        case O_KAFKA:
            o->kafka = optarg;
            break;
        case O_TOPIC:
            o->topic = optarg;
            break;
        case O_HTOPIC:
            o->hearing_topic = optarg;
            break;
        case O_OUT:
            o->out_file = optarg;
            break;
        case O_DUP:
        case O_REORDER:
        case O_LATE:
        case O_BAD:
        case O_SCEN: {
            double v;
            double hi = c == O_SCEN ? 0.2 : 1.0;
            if (parse_double(optarg, 0, hi, &v) != 0) {
                fprintf(stderr, "casewatch-gen: --%s expects a share in [0, %g]\n",
                        c == O_DUP       ? "dup-rate"
                        : c == O_REORDER ? "reorder-rate"
                        : c == O_LATE    ? "late-rate"
                        : c == O_BAD     ? "bad-rate"
                                         : "scenario-rate",
                        hi);
                return 2;
            }
            if (c == O_DUP)
                o->dup_rate = v;
            else if (c == O_REORDER)
                o->reorder_rate = v;
            else if (c == O_LATE)
                o->late_rate = v;
            else if (c == O_BAD)
                o->bad_rate = v;
            else
                o->cfg.scenario_rate = v;
            break;
        }
        case O_BAD_FILE:
            o->bad_in_file = true;
            break;
        case O_TRUTH:
            o->truth = optarg;
            break;
        case O_HOLIDAYS:
            o->holidays = optarg;
            break;
        case O_PROGRESS:
            o->progress = true;
            break;
        case 'X':
            if (cw_tools_add_prop("casewatch-gen", optarg, o->props, &o->n_props))
                return 2;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (cw_tools_no_operands("casewatch-gen", argc, argv, optind))
        return 2;
    if (o->cfg.days < 1) {
        fprintf(stderr, "casewatch-gen: --days must be at least 1\n");
        return 2;
    }
    if (!o->kafka && !o->out_file && !o->truth) {
        fprintf(stderr, "casewatch-gen: nothing to do: give --kafka, --out-file or --truth\n");
        return 2;
    }
    if (o->kafka && (!*o->kafka || !*o->topic || !*o->hearing_topic)) {
        fprintf(stderr, "casewatch-gen: --kafka, --topic and --hearing-topic must not be empty\n");
        return 2;
    }
    return 0;

bad_number:
    fprintf(stderr, "casewatch-gen: --seed expects a non-negative integer\n");
    return 2;
}

/* ---- output: Kafka producer and delimited file ----------------------------------------- */

typedef struct sink {
    rd_kafka_t *rk;
    FILE *file;
    const char *file_path;
    uint64_t kafka_sent, file_written, bytes;
    uint64_t delivered, failed;
    bool fatal, io_error;
} sink_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    sink_t *s = opaque;
    if (m->err) {
        if (s->failed++ < GEN_MAX_ERRORS_SHOWN)
            fprintf(stderr, "casewatch-gen: delivery to %s failed: %s\n",
                    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        return;
    }
    s->delivered++;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    sink_t *s = opaque;
    if (cw_tools_kafka_error("casewatch-gen", rk, err, reason))
        s->fatal = true;
}

/* The idempotent producer. NULL after printing why; *bad_conf for a refused property. */
static rd_kafka_t *producer_new(const gen_opts_t *o, sink_t *s, bool *bad_conf)
{
    const char *const defaults[][2] = {
        {"bootstrap.servers", o->kafka},
        {"acks", "all"},
        {"enable.idempotence", "true"},
        {"linger.ms", "20"},
        {"message.timeout.ms", "120000"},
        {"client.id", "casewatch-gen"},
        {"queue.buffering.max.messages", "500000"},
    };
    return cw_tools_producer_new("casewatch-gen", defaults, CW_ARRAY_LEN(defaults), o->props,
                                 o->n_props, s, on_delivery, on_error, bad_conf);
}

static int kafka_send(sink_t *s, const char *topic, const char *key, const void *val, size_t len)
{
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(s->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE((void *)val, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            s->kafka_sent++;
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || s->fatal) {
            fprintf(stderr, "casewatch-gen: cannot enqueue to %s: %s\n", topic,
                    rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(s->rk, 100);
    }
}

static int file_write(sink_t *s, const uint8_t *val, size_t len)
{
    uint8_t hdr[10];
    size_t n = 0;
    uint64_t v = len;
    do {
        hdr[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    if (fwrite(hdr, 1, n, s->file) != n || fwrite(val, 1, len, s->file) != len) {
        if (!s->io_error)
            fprintf(stderr, "casewatch-gen: writing %s: %s\n", s->file_path, strerror(errno));
        s->io_error = true;
        return -1;
    }
    s->file_written++;
    return 0;
}

/* ---- the fault stage ------------------------------------------------------------------- */

/* One message on its way out. */
typedef struct msg {
    uint8_t *data;
    size_t len;
    char key[136];
    bool hearing; /* goes to the hearing topic */
    int64_t occurred_at;
    uint64_t due; /* late: release when stream time >= due (ms); dup/reorder: count */
} msg_t;

typedef struct msgq {
    msg_t *v;
    size_t n, cap;
} msgq_t;

static void msgq_push(msgq_t *q, msg_t m)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->v = cw_realloc(q->v, q->cap * sizeof *q->v);
    }
    q->v[q->n++] = m;
}

/* Remove entry i keeping the order (queues are short). */
static msg_t msgq_take(msgq_t *q, size_t i)
{
    msg_t m = q->v[i];
    memmove(&q->v[i], &q->v[i + 1], (q->n - i - 1) * sizeof *q->v);
    q->n--;
    return m;
}

static void msgq_free(msgq_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->v[i].data);
    free(q->v);
}

typedef struct faults {
    uint64_t s[2]; /* xorshift128+ state */
    double dup, reorder, late, bad;
    msgq_t late_q, reorder_q, dup_q;
    uint64_t n_dup, n_reorder, n_late, n_bad;
    uint64_t sent; /* messages sent (the count the dup/reorder windows are measured in) */
} faults_t;

static uint64_t frand(faults_t *f)
{
    uint64_t s1 = f->s[0];
    const uint64_t s0 = f->s[1];
    f->s[0] = s0;
    s1 ^= s1 << 23;
    f->s[1] = s1 ^ s0 ^ (s1 >> 18) ^ (s0 >> 5);
    return f->s[1] + s0;
}

static double fu01(faults_t *f)
{
    return (double)(frand(f) >> 11) * 0x1.0p-53;
}

/* Everything main() wires together; the generator callback's argument. */
typedef struct run {
    const gen_opts_t *o;
    sink_t sink;
    faults_t f;
    uint8_t *buf;
    size_t cap;
    int64_t now_ms;
    sigset_t stop_set;
    bool stop, internal_error, output_error;
    /* pacing */
    int64_t pace_wall0, pace_sim0;
    /* progress */
    int64_t prog_last, prog_start;
    uint64_t prog_events;
    const cw_gen_t *gen;
    uint64_t emitted;
} run_t;

static bool stop_requested(run_t *r)
{
    sigset_t pend;
    if (sigpending(&pend) != 0)
        return false;
    return sigismember(&pend, SIGINT) || sigismember(&pend, SIGTERM);
}

static void consume_stop_signal(run_t *r)
{
    struct timespec zero = {0, 0};
    while (sigtimedwait(&r->stop_set, NULL, &zero) > 0)
        ;
}

/* Deliver one message to every sink. */
static void deliver(run_t *r, const msg_t *m, bool garbage)
{
    sink_t *s = &r->sink;
    if (s->rk &&
        kafka_send(s, m->hearing ? r->o->hearing_topic : r->o->topic, m->key, m->data, m->len) != 0)
        r->output_error = true;
    if (s->file && (!garbage || r->o->bad_in_file) && file_write(s, m->data, m->len) != 0)
        r->output_error = true;
    s->bytes += m->len;
    if (s->rk)
        rd_kafka_poll(s->rk, 0);
}

static msg_t msg_copy(const msg_t *m)
{
    msg_t c = *m;
    c.data = cw_malloc(m->len ? m->len : 1);
    memcpy(c.data, m->data, m->len);
    return c;
}

/* Send a message and do what follows a send: maybe schedule a duplicate, maybe garbage. */
static void send_msg(run_t *r, const msg_t *m)
{
    faults_t *f = &r->f;
    deliver(r, m, false);
    f->sent++;
    if (f->dup > 0 && fu01(f) < f->dup) {
        msg_t d = msg_copy(m);
        d.due = f->sent + frand(f) % GEN_DUP_WINDOW;
        msgq_push(&f->dup_q, d);
    }
    if (f->bad > 0 && fu01(f) < f->bad) {
        /* wire type 7 in the first tag is never valid protobuf: undecodable */
        uint8_t junk[24] = {0x07};
        for (size_t k = 1; k < sizeof junk; k++)
            junk[k] = (uint8_t)frand(f);
        msg_t g = *m;
        g.data = junk;
        g.len = 8 + frand(f) % 16;
        deliver(r, &g, true);
        f->n_bad++;
    }
    /* duplicates whose turn has come */
    for (size_t i = 0; i < f->dup_q.n;) {
        if (f->dup_q.v[i].due <= f->sent) {
            msg_t d = msgq_take(&f->dup_q, i);
            deliver(r, &d, false);
            f->n_dup++;
            free(d.data);
        } else {
            i++;
        }
    }
}

/* Release held messages: late ones whose time has come (stream time `now`), reorder holds
 * whose window expired. `all` releases everything (end of the stream). */
static void release_held(run_t *r, int64_t now, bool all)
{
    faults_t *f = &r->f;
    for (size_t i = 0; i < f->reorder_q.n;) {
        if (all || f->reorder_q.v[i].due <= f->sent) {
            msg_t m = msgq_take(&f->reorder_q, i);
            send_msg(r, &m); /* no later event of its case came: sent in order after all */
            free(m.data);
        } else {
            i++;
        }
    }
    for (;;) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < f->late_q.n; i++)
            if ((all || (int64_t)f->late_q.v[i].due <= now) &&
                (best == SIZE_MAX || f->late_q.v[i].due < f->late_q.v[best].due))
                best = i;
        if (best == SIZE_MAX)
            break;
        msg_t m = msgq_take(&f->late_q, best);
        send_msg(r, &m);
        f->n_late++;
        free(m.data);
    }
    if (all) {
        while (f->dup_q.n) {
            msg_t d = msgq_take(&f->dup_q, 0);
            deliver(r, &d, false);
            f->n_dup++;
            free(d.data);
        }
    }
}

/* One event from the model: through the fault stage to the sinks. */
static void fault_stage(run_t *r, msg_t *m, bool area_event)
{
    faults_t *f = &r->f;
    release_held(r, m->occurred_at, false);

    for (size_t i = 0; i < f->reorder_q.n; i++) {
        if (strcmp(f->reorder_q.v[i].key, m->key) == 0) {
            msg_t held = msgq_take(&f->reorder_q, i);
            send_msg(r, m);     /* the later event first ... */
            send_msg(r, &held); /* ... then the earlier one */
            f->n_reorder++;
            free(held.data);
            return;
        }
    }
    if (!area_event && f->late > 0 && fu01(f) < f->late) {
        msg_t h = msg_copy(m);
        int64_t days =
            GEN_LATE_MIN_DAYS + (int64_t)(frand(f) % (GEN_LATE_MAX_DAYS - GEN_LATE_MIN_DAYS + 1));
        h.due =
            (uint64_t)(m->occurred_at + days * CW_MS_PER_DAY + (int64_t)(frand(f) % CW_MS_PER_DAY));
        msgq_push(&f->late_q, h);
        return;
    }
    if (!area_event && f->reorder > 0 && fu01(f) < f->reorder) {
        msg_t h = msg_copy(m);
        h.due = f->sent + GEN_REORDER_WINDOW;
        msgq_push(&f->reorder_q, h);
        return;
    }
    send_msg(r, m);
}

/* ---- pacing and progress ---------------------------------------------------------------- */

static void sleep_ms(run_t *r, int64_t ms)
{
    if (r->sink.rk) {
        rd_kafka_poll(r->sink.rk, (int)ms);
        return;
    }
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void pace(run_t *r, int64_t occurred_at)
{
    if (r->o->speed <= 0)
        return;
    if (!r->pace_wall0) {
        r->pace_wall0 = cw_mono_ms();
        r->pace_sim0 = occurred_at;
    }
    for (;;) {
        int64_t due = r->pace_wall0 + (int64_t)((double)(occurred_at - r->pace_sim0) / r->o->speed);
        int64_t now = cw_mono_ms();
        if (now >= due || r->stop)
            return;
        sleep_ms(r, due - now > 100 ? 100 : due - now);
        if (stop_requested(r))
            r->stop = true;
    }
}

static void progress(run_t *r, int64_t occurred_at, bool final)
{
    int64_t now = cw_mono_ms();
    if (!final && now - r->prog_last < 1000)
        return;
    const cw_gen_truth_t *t = cw_gen_truth(r->gen);
    char day[16];
    cw_day_format(cw_day_from_ms(occurred_at), day, sizeof day);
    double secs = (double)(now - r->prog_start) / 1000.0;
    double span = (double)(t->window_end - t->sim_start + 1);
    double done = (double)(cw_day_from_ms(occurred_at) - t->sim_start) / span;
    fprintf(stderr, "casewatch-gen: %s  %" PRIu64 " events  %.0f/s  %.1f MB  %.0f%%%s\n", day,
            r->emitted, secs > 0 ? (double)r->emitted / secs : 0.0, (double)r->sink.bytes / 1e6,
            done > 1 ? 100.0 : done * 100.0,
            occurred_at >= cw_day_to_ms(t->window_start) ? "  (window)" : "  (warm-up)");
    r->prog_last = now;
}

/* The generator's callback: validate, pack, pace, fault, send. */
static int on_event(void *arg, const cw_gen_event_t *ev)
{
    run_t *r = arg;
    char reason[256];
    if (cw_event_validate(ev->pb, r->now_ms, reason, sizeof reason) != CW_REJECT_NONE) {
        fprintf(stderr, "casewatch-gen: internal error: event %s is invalid: %s\n",
                ev->pb->event_id, reason);
        r->internal_error = true;
        return 1;
    }
    size_t len = casewatch__v1__event__get_packed_size(ev->pb);
    if (len > r->cap) {
        r->cap = len * 2;
        r->buf = cw_realloc(r->buf, r->cap);
    }
    casewatch__v1__event__pack(ev->pb, r->buf);
    r->emitted++;

    if (ev->in_window)
        pace(r, ev->pb->occurred_at);
    msg_t m = {.data = r->buf, .len = len, .occurred_at = ev->pb->occurred_at};
    cw_strlcpy(m.key, ev->key, sizeof m.key);
    m.hearing = ev->kind == CASEWATCH__V1__EVENT__PAYLOAD_HEARING_LISTED ||
                ev->kind == CASEWATCH__V1__EVENT__PAYLOAD_HEARING_HELD ||
                ev->kind == CASEWATCH__V1__EVENT__PAYLOAD_HEARING_ADJOURNED;
    fault_stage(r, &m, cw_event_kind_is_area(ev->kind));

    if ((r->emitted & 4095) == 0) {
        if (stop_requested(r))
            r->stop = true;
        if (r->o->progress)
            progress(r, ev->pb->occurred_at, false);
    }
    if (r->sink.fatal || r->output_error)
        return 1;
    return r->stop ? 1 : 0;
}

/* ---- ground truth JSON ------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void json_day(FILE *f, cw_day_t d)
{
    char buf[16];
    cw_day_format(d, buf, sizeof buf);
    json_str(f, buf);
}

/* a finite number; JSON has no NaN or Infinity */
static void json_num(FILE *f, double v, int decimals)
{
    if (!isfinite(v))
        v = 0;
    fprintf(f, "%.*f", decimals, v);
}

static const char *const type_names[7] = {
    "all",
    "public_law_s31_care",
    "public_law_s31_supervision",
    "public_law_other",
    "private_law_wtfh",
    "private_law_wafh",
    "rule_16_4",
};

static int write_truth(const char *path, const gen_opts_t *o, const cw_gen_truth_t *t,
                       const run_t *r, bool complete)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "casewatch-gen: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    double sc = t->scale;
    fprintf(f, "{\n  \"generator\": \"casewatch-gen\",\n  \"complete\": %s,\n",
            complete ? "true" : "false");
    fprintf(f, "  \"seed\": %" PRIu64 ",\n  \"scale\": ", t->seed);
    json_num(f, sc, 6);
    fprintf(f, ",\n  \"scenario_rate\": ");
    json_num(f, o->cfg.scenario_rate, 6);
    fprintf(f, ",\n  \"simulation_start\": ");
    json_day(f, t->sim_start);
    fprintf(f, ",\n  \"warmup_days\": %d,\n  \"window\": {\"start\": ", o->cfg.warmup_days);
    json_day(f, t->window_start);
    fprintf(f, ", \"end\": ");
    json_day(f, t->window_end);
    fprintf(f, ", \"days\": %d, \"working_days\": %d},\n", o->cfg.days, t->window_workdays);

    fprintf(f,
            "  \"events\": {\"emitted\": %" PRIu64 ", \"in_window\": %" PRIu64 ", \"by_kind\": {",
            t->events, t->events_in_window);
    bool first = true;
    for (int k = CW_EVENT_KIND_FIRST; k <= CW_EVENT_KIND_LAST && k < CW_GEN_KIND_SLOTS; k++) {
        fprintf(f, "%s\n    ", first ? "" : ",");
        json_str(f, cw_event_kind_name(k));
        fprintf(f, ": %" PRIu64, t->events_by_kind[k]);
        first = false;
    }
    fprintf(f, "\n  }},\n");
    fprintf(f,
            "  \"faults\": {\"duplicates\": %" PRIu64 ", \"reorders\": %" PRIu64
            ", \"late\": %" PRIu64 ", \"bad\": %" PRIu64 ", \"bad_in_file\": %s},\n",
            r->f.n_dup, r->f.n_reorder, r->f.n_late, r->f.n_bad, o->bad_in_file ? "true" : "false");
    fprintf(f,
            "  \"messages\": {\"kafka\": %" PRIu64 ", \"kafka_delivered\": %" PRIu64
            ", \"file\": %" PRIu64 "},\n",
            r->sink.kafka_sent, r->sink.delivered, r->sink.file_written);
    fprintf(f, "  \"stock_at_start\": %" PRIu64 ",\n  \"cases_emitted\": %" PRIu64 ",\n",
            t->stock_at_start, t->cases_emitted);

    fprintf(f, "  \"window_cases\": {\"opened\": %" PRIu64 ", \"by_type\": {", t->new_cases[0]);
    for (int i = 1; i < 7; i++)
        fprintf(f, "%s\"%s\": %" PRIu64, i > 1 ? ", " : "", type_names[i], t->new_cases[i]);
    fprintf(f, "}, \"children\": %" PRIu64 ", \"per_working_day\": ", t->new_children);
    json_num(f, t->new_cases_per_workday, 2);
    fprintf(f, ", \"children_per_case\": ");
    json_num(f, t->children_per_new_case, 3);
    fprintf(f, "},\n");

    fprintf(f, "  \"figures_at_window_end\": {\n");
    fprintf(f, "    \"open_cases\": %" PRIu64 ", \"open_children\": %" PRIu64 ",\n", t->open_cases,
            t->open_children);
    fprintf(f, "    \"open_by_type\": {");
    for (int i = 1; i < 7; i++)
        fprintf(f, "%s\"%s\": %" PRIu64, i > 1 ? ", " : "", type_names[i], t->open_by_type[i]);
    fprintf(f, "},\n");
    const char *law[2] = {"public_law", "private_law"};
    for (int w = 0; w < 2; w++) {
        const uint64_t *cases = w ? t->open_100w_cases : t->open_52w_cases;
        const uint64_t *kids = w ? t->open_100w_children : t->open_52w_children;
        fprintf(f, "    \"open_%s\": {", w ? "100w" : "52w");
        for (int l = 0; l < 2; l++)
            fprintf(f, "%s\"%s\": {\"cases\": %" PRIu64 ", \"children\": %" PRIu64 "}",
                    l ? ", " : "", law[l], cases[l], kids[l]);
        fprintf(f, "},\n");
    }
    fprintf(f, "    \"new_cases_per_working_day\": ");
    json_num(f, t->new_cases_per_workday, 2);
    fprintf(f,
            ",\n    \"closed_duration_weeks\": {\"s31_care_and_supervision\": {\"n\": %" PRIu64
            ", \"mean\": ",
            t->closed_s31);
    json_num(f, t->closed_s31_mean_weeks, 2);
    fprintf(f, "}");
    for (int i = 0; i < 7; i++) {
        fprintf(f, ", \"%s\": {\"n\": %" PRIu64 ", \"mean\": ", type_names[i], t->closed[i]);
        json_num(f, t->closed_mean_weeks[i], 2);
        fprintf(f, "}");
    }
    fprintf(f, "},\n    \"s31_closed_within_26w_pct\": ");
    json_num(f, 100 * t->closed_s31_within_26w, 2);
    const char *slots[4] = {"allocated", "duty", "post_assessment_hub", "allocation_hub"};
    fprintf(f, ",\n    \"allocation\": {");
    for (int i = 0; i < 4; i++) {
        fprintf(f, "%s\"%s\": {\"cases\": %" PRIu64 ", \"pct\": ", i ? ", " : "", slots[i],
                t->alloc[i]);
        json_num(f, 100 * t->alloc_share[i], 2);
        fprintf(f, "}");
    }
    fprintf(f, "},\n    \"s7\": {\"filed\": %" PRIu64 ", \"on_time_pct\": ", t->s7_filed);
    json_num(f, 100 * t->s7_on_time_share, 2);
    fprintf(f, ", \"extended_pct\": ");
    json_num(f, 100 * t->s7_extended_share, 2);
    fprintf(f, "},\n    \"children_seen\": {\"children\": %" PRIu64 ", \"seen_pct\": ",
            t->seen_children);
    json_num(f, 100 * t->seen_share, 2);
    fprintf(f, ", \"in_person_pct\": ");
    json_num(f, 100 * t->seen_in_person_share, 2);
    fprintf(f, "},\n    \"caseload\": {\"workers\": %d, \"workers_with_cases\": %d, \"mean\": ",
            t->workers, t->workers_with_cases);
    json_num(f, t->caseload_mean, 2);
    fprintf(f, ", \"max\": %d},\n    \"prioritised_areas\": [", t->caseload_max);
    for (int i = 0; i < t->n_prioritised; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, t->prioritised[i]);
    }
    fprintf(f, "]\n  },\n");

    fprintf(f, "  \"targets\": {\"new_cases_per_working_day\": ");
    json_num(f, 221 * sc, 2);
    fprintf(f, ", \"children_per_case\": 1.6, \"open_cases\": ");
    json_num(f, 30096 * sc, 0);
    fprintf(f, ", \"open_children\": ");
    json_num(f, 48721 * sc, 0);
    fprintf(f, ", \"closed_weeks\": {\"s31_care_and_supervision\": 43, \"private_law_wtfh\": 12, "
               "\"private_law_wafh\": 59, \"rule_16_4\": 104}, \"s31_closed_within_26w_pct\": 31.2"
               ", \"allocation_pct\": {\"allocated\": 92, \"duty\": 2.5, "
               "\"post_assessment_hub\": 3.5, \"allocation_hub\": 2}, \"s7_on_time_pct\": 98.3, "
               "\"s7_extended_pct\": 36.3, \"seen_pct\": 98, \"in_person_pct\": 92.3, "
               "\"caseload_mean\": 19.3, \"open_52w\": {\"public_law\": {\"cases\": ");
    json_num(f, 1966 * sc, 0);
    fprintf(f, ", \"children\": ");
    json_num(f, 3965 * sc, 0);
    fprintf(f, "}, \"private_law\": {\"cases\": ");
    json_num(f, 4610 * sc, 0);
    fprintf(f, ", \"children\": ");
    json_num(f, 7223 * sc, 0);
    fprintf(f, "}}, \"open_100w\": {\"public_law\": {\"cases\": ");
    json_num(f, 300 * sc, 0);
    fprintf(f, ", \"children\": ");
    json_num(f, 643 * sc, 0);
    fprintf(f, "}, \"private_law\": {\"cases\": ");
    json_num(f, 1865 * sc, 0);
    fprintf(f, ", \"children\": ");
    json_num(f, 2930 * sc, 0);
    fprintf(f, "}}},\n");

    fprintf(f,
            "  \"scenario_thresholds\": {\"care_days\": %d, \"open_long_days\": %d, "
            "\"open_very_long_days\": %d, \"r164_planning_days\": %d, \"r164_final_days\": %d, "
            "\"duty_working_days\": %d, \"seen_working_days\": %d, \"risk_16a_working_days\": %d, "
            "\"letter_working_days_before\": %d, \"oversight_working_days\": %d, "
            "\"caseload\": %d, \"welfare_unallocated_working_days\": %d},\n",
            CW_GEN_CARE_LIMIT_DAYS, CW_GEN_OPEN_LONG_DAYS, CW_GEN_OPEN_VERY_LONG_DAYS,
            CW_GEN_R164_PLANNING_DAYS, CW_GEN_R164_FINAL_DAYS, CW_GEN_DUTY_LIMIT_WD,
            CW_GEN_SEEN_LIMIT_WD, CW_GEN_16A_LIMIT_WD, CW_GEN_LETTER_BEFORE_WD,
            CW_GEN_OVERSIGHT_LIMIT_WD, CW_GEN_CASELOAD_LIMIT, CW_GEN_WELFARE_LIMIT_WD);
    fprintf(f, "  \"scenarios\": {");
    for (int k = 0; k < CW_GEN_SC__COUNT; k++) {
        fprintf(f, "%s\n    ", k ? "," : "");
        json_str(f, cw_gen_scenario_name(k));
        fprintf(f,
                ": {\"injected\": %" PRIu64 ", \"arising_in_window\": %" PRIu64 ", \"examples\": [",
                t->sc_injected[k], t->sc_arising[k]);
        uint64_t nex = t->sc_injected[k] < 3 ? t->sc_injected[k] : 3;
        if (k == CW_GEN_SC_CASELOAD_OVER)
            nex = 0; /* workers, not cases */
        for (uint64_t j = 0; j < nex; j++)
            fprintf(f, "%s\"c-%" PRIu32 "\"", j ? ", " : "", t->sc_example[k][j]);
        fprintf(f, "]}");
    }
    fprintf(f, "\n  }\n}\n");
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0)
        bad = true;
    if (bad) {
        fprintf(stderr, "casewatch-gen: error writing %s\n", path);
        return -1;
    }
    return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

/* Flush the producer in slices, so that a second INT/TERM can cut it short. */
static int flush_kafka(run_t *r)
{
    sink_t *s = &r->sink;
    int64_t deadline = cw_mono_ms() + GEN_FLUSH_MS;
    while (rd_kafka_outq_len(s->rk) > 0) {
        if (cw_mono_ms() > deadline) {
            fprintf(stderr, "casewatch-gen: %d messages still undelivered after %d ms\n",
                    rd_kafka_outq_len(s->rk), GEN_FLUSH_MS);
            return -1;
        }
        if (stop_requested(r)) {
            fprintf(stderr, "casewatch-gen: interrupted again: %d messages not flushed\n",
                    rd_kafka_outq_len(s->rk));
            rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            return -1;
        }
        rd_kafka_flush(s->rk, 200);
    }
    return 0;
}

int main(int argc, char **argv)
{
    gen_opts_t o;
    int rc = parse_opts(argc, argv, &o);
    if (rc != 0) {
        free(o.props);
        return rc < 0 ? 0 : rc;
    }

    int64_t now = cw_now_ms();
    cw_day_t today = cw_day_from_ms(now);
    o.cfg.end_day = today;
    if (o.end_date && cw_day_parse(o.end_date, &o.cfg.end_day) != CW_OK) {
        fprintf(stderr, "casewatch-gen: --end-date expects YYYY-MM-DD, got \"%s\"\n", o.end_date);
        free(o.props);
        return 2;
    }
    if (o.cfg.end_day > today) {
        fprintf(stderr,
                "casewatch-gen: --end-date %s is after today (UTC): consumers reject events "
                "more than a day ahead\n",
                o.end_date);
        free(o.props);
        return 2;
    }

    cw_workdays_t *wd = cw_workdays_new();
    char errstr[512];
    if (o.holidays && cw_workdays_load_file(wd, o.holidays, errstr, sizeof errstr) != CW_OK) {
        fprintf(stderr, "casewatch-gen: %s\n", errstr);
        cw_workdays_destroy(wd);
        free(o.props);
        return 2;
    }
    o.cfg.workdays = wd;
    cw_gen_t *g = cw_gen_new(&o.cfg, errstr, sizeof errstr);
    if (!g) {
        fprintf(stderr, "casewatch-gen: %s\n", errstr);
        cw_workdays_destroy(wd);
        free(o.props);
        return 2;
    }

    run_t *r = cw_calloc(1, sizeof *r);
    r->o = &o;
    r->gen = g;
    r->now_ms = now;
    r->f.dup = o.dup_rate;
    r->f.reorder = o.reorder_rate;
    r->f.late = o.late_rate;
    r->f.bad = o.bad_rate;
    uint64_t x = o.cfg.seed ^ 0xfa017ULL;
    for (int i = 0; i < 2; i++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        r->f.s[i] = z ^ (z >> 31);
    }
    sigemptyset(&r->stop_set);
    sigaddset(&r->stop_set, SIGINT);
    sigaddset(&r->stop_set, SIGTERM);
    sigprocmask(SIG_BLOCK, &r->stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = 0;
    if (o.out_file) {
        r->sink.file = fopen(o.out_file, "wb");
        r->sink.file_path = o.out_file;
        if (!r->sink.file) {
            fprintf(stderr, "casewatch-gen: cannot create %s: %s\n", o.out_file, strerror(errno));
            rc = 1;
        } else {
            setvbuf(r->sink.file, NULL, _IOFBF, 1 << 20);
        }
    }
    if (rc == 0 && o.kafka) {
        bool bad_conf = false;
        r->sink.rk = producer_new(&o, &r->sink, &bad_conf);
        if (!r->sink.rk) {
            rc = bad_conf ? 2 : 1;
        } else {
            /* both topics known before the first message: they are appended in the order
             * they are published (up to the producer's batching), which is what a consumer
             * merging them by occurred_at can absorb */
            const char *const topics[] = {o.topic, o.hearing_topic};
            (void)cw_tools_producer_learn_topics("casewatch-gen", r->sink.rk, topics, 2,
                                                 GEN_METADATA_MS);
        }
    }

    if (rc == 0) {
        r->prog_start = r->prog_last = cw_mono_ms();
        cw_err_t err = cw_gen_run(g, on_event, r);
        bool complete = err == CW_OK;
        if (complete)
            release_held(r, INT64_MAX, true);
        const cw_gen_truth_t *t = cw_gen_truth(g);
        if (o.progress)
            progress(r, cw_day_to_ms(t->window_end), true);
        if (r->stop) {
            consume_stop_signal(r);
            fprintf(stderr, "casewatch-gen: interrupted: stopping after %" PRIu64 " events\n",
                    r->emitted);
        }
        if (r->internal_error || r->output_error || r->stop || r->sink.fatal)
            rc = 1;
        if (r->sink.file && fflush(r->sink.file) != 0) {
            fprintf(stderr, "casewatch-gen: writing %s: %s\n", o.out_file, strerror(errno));
            rc = 1;
        }
        if (r->sink.rk) {
            if (flush_kafka(r) != 0)
                rc = 1;
            if (r->sink.failed) {
                fprintf(stderr, "casewatch-gen: %" PRIu64 " of %" PRIu64 " messages failed\n",
                        r->sink.failed, r->sink.kafka_sent);
                rc = 1;
            }
        }
        if (o.truth && write_truth(o.truth, &o, t, r, complete) != 0)
            rc = 1;
        double secs = (double)(cw_mono_ms() - r->prog_start) / 1000.0;
        fprintf(stderr,
                "casewatch-gen: %" PRIu64 " events (%" PRIu64 " in the window), %" PRIu64
                " cases, %.1f MB, %.1f s; faults: %" PRIu64 " duplicates, %" PRIu64
                " reorders, %" PRIu64 " late, %" PRIu64 " bad\n",
                t->events, t->events_in_window, t->cases_emitted, (double)r->sink.bytes / 1e6, secs,
                r->f.n_dup, r->f.n_reorder, r->f.n_late, r->f.n_bad);
    }

    if (r->sink.rk)
        rd_kafka_destroy(r->sink.rk);
    if (r->sink.file && fclose(r->sink.file) != 0 && rc == 0) {
        fprintf(stderr, "casewatch-gen: closing %s: %s\n", o.out_file, strerror(errno));
        rc = 1;
    }
    msgq_free(&r->f.late_q);
    msgq_free(&r->f.reorder_q);
    msgq_free(&r->f.dup_q);
    free(r->buf);
    free(r);
    cw_gen_destroy(g);
    cw_workdays_destroy(wd);
    free(o.props);
    return rc;
}
