/*
 * casewatchd — main(): parse options, load the configuration, wire the ingest pipeline onto
 * one libevent loop, and handle signals (HUP reload, TERM/INT graceful stop, a second TERM/INT
 * exits at once, USR1 reopens logs, PIPE ignored).
 */
#include "casewatch/admin.h"
#include "casewatch/config.h"
#include "casewatch/log.h"
#include "casewatch/pipeline.h"
#include "casewatch/store.h"

#include <event2/event.h>
#include <getopt.h>
#include <systemd/sd-daemon.h>
#include <signal.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/casewatch/casewatchd.ini"
#define CW_VERSION "0.1.0"

typedef struct cw_daemon {
    struct event_base *base;
    cw_config_t *cfg;
    cw_pipeline_t *pipeline;
    cw_admin_t *admin;
    cw_reload_stats_t reloads;
    struct event *ev_term, *ev_int, *ev_hup, *ev_usr1, *ev_deadline, *ev_watchdog;
    int stop_signals;
    bool stopped_cleanly;
} cw_daemon_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: casewatchd [-c FILE] [--check-config] [--migrate-only] [--strict] "
               "[--version]\n"
               "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
               "      --check-config  validate the configuration and exit (0 = valid)\n"
               "      --migrate-only  apply the schema migrations this binary has, then exit\n"
               "                      (0 = the schema is current; run a long migration\n"
               "                      deliberately, before starting the daemons)\n"
               "      --strict        refuse to start (or to validate) when the admin token\n"
               "                      is readable by other users, instead of warning\n"
               "      --take-over-group  the consumer group owning the database is gone for\n"
               "                      good: record this daemon's group as its owner\n"
               "  -V, --version       print the version and exit\n"
               "  -h, --help          this text\n");
}

/* Descriptors: raise the soft limit to the hard one, and require room for the admin's
 * connection cap plus CW_ADMIN_FD_RESERVE, so that a flood of admin clients never leaves
 * PostgreSQL or Kafka without a socket. Returns CW_OK with a summary in msg, or
 * CW_ERR_CONFIG with why. */
static cw_err_t fd_limit(const cw_config_t *cfg, char *msg, size_t msgsz)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(msg, msgsz, "descriptors: getrlimit(RLIMIT_NOFILE) failed: %s", strerror(errno));
        return CW_OK; /* nothing to check against */
    }
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit raised = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl = raised;
    }
    long admin = strcmp(cfg->admin_listen, "off") ? cfg->admin_max_connections : 0;
    unsigned long long limit = rl.rlim_cur == RLIM_INFINITY ? ~0ULL : rl.rlim_cur;
    if (limit < (unsigned long long)admin + CW_ADMIN_FD_RESERVE) {
        snprintf(msg, msgsz,
                 "the descriptor limit (RLIMIT_NOFILE, hard limit included) is %llu, below "
                 "[admin] max_connections (%ld) + %d kept for PostgreSQL, Kafka and logs: "
                 "raise LimitNOFILE= in the unit (ulimit -n), or lower [admin] max_connections",
                 limit, admin, CW_ADMIN_FD_RESERVE);
        return CW_ERR_CONFIG;
    }
    snprintf(msg, msgsz,
             "descriptors: limit %llu, of which at most %ld for admin connections",
             limit, admin);
    return CW_OK;
}

static void on_stopped(void *arg)
{
    cw_daemon_t *d = arg;
    d->stopped_cleanly = true;
    event_base_loopbreak(d->base);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    cw_daemon_t *d = arg;
    cw_log_warn("shutdown: not finished within %d ms; exiting now (nothing uncommitted was "
                "acknowledged, it is read again at the next start)",
                d->cfg->shutdown_timeout_ms);
    event_base_loopbreak(d->base);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    cw_daemon_t *d = arg;
    if (++d->stop_signals > 1) {
        cw_log_warn("second %s: exiting at once", strsignal((int)sig));
        _exit(1);
    }
    cw_log_info("%s: finishing the current batch and leaving the consumer group",
                strsignal((int)sig));
    sd_notify(0, "STOPPING=1\nSTATUS=finishing the current batch and leaving the group");
    struct timeval tv = {d->cfg->shutdown_timeout_ms / 1000,
                         (d->cfg->shutdown_timeout_ms % 1000) * 1000};
    evtimer_add(d->ev_deadline, &tv);
    cw_pipeline_stop(d->pipeline, on_stopped, d);
}

/* Reload configuration and rules (SIGHUP, POST /reload): parse into a new config, validate,
 * swap. Anything invalid keeps the old configuration and rules; errstr says file:line:why.
 * On success errstr lists the keys that only a restart changes (or is empty). */
static cw_err_t reload(void *arg, char *errstr, size_t errsz)
{
    cw_daemon_t *d = arg;
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)cw_mono_ms() * 1000);
    cw_config_t *n = cw_config_load(d->cfg->path, errstr, errsz);
    if (!n) {
        d->reloads.failed++;
        sd_notify(0, "READY=1\nSTATUS=reload failed: keeping the current configuration");
        cw_log_error("reload: keeping the current configuration; %s is invalid:\n%s",
                     d->cfg->path, errstr);
        return CW_ERR_CONFIG;
    }
    if (cw_pipeline_reload_rules(d->pipeline, errstr, errsz) != CW_OK) {
        d->reloads.failed++;
        cw_log_error("reload: keeping the current configuration and rules; the rules are "
                     "invalid:\n%s",
                     errstr);
        cw_config_free(n);
        sd_notify(0, "READY=1\nSTATUS=reload failed: keeping the current configuration");
        return CW_ERR_CONFIG;
    }
    char fixed[1024];
    cw_config_diff_static(d->cfg, n, fixed, sizeof(fixed));
    if (fixed[0])
        cw_log_warn("reload: these keys cannot change at runtime and keep their value until "
                    "a restart: %s",
                    fixed);
    cw_config_apply_reloadable(d->cfg, n);
    cw_config_free(n);
    cw_log_threshold = d->cfg->log_level;
    cw_log_json = d->cfg->log_json;
    cw_pipeline_reconfigure(d->pipeline, d->cfg);
    if (d->admin)
        cw_admin_reconfigure(d->admin, d->cfg);
    d->reloads.ok++;
    d->reloads.last_ok_ms = cw_now_ms();
    cw_log_info("reload: configuration reloaded from %s", d->cfg->path);
    sd_notify(0, "READY=1\nSTATUS=configuration reloaded");
    snprintf(errstr, errsz, "%s%s", fixed[0] ? "need a restart: " : "", fixed);
    return CW_OK;
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    char err[8192];
    (void)reload(arg, err, sizeof(err));
}

/* systemd's watchdog: the loop is alive if this timer runs. Also tells systemd we are ready
 * once the pipeline first owns partitions or is waiting for them (the database connected). */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    cw_daemon_t *d = arg;
    sd_notify(0, "WATCHDOG=1");
    const cw_pipeline_stats_t *s = cw_pipeline_stats(d->pipeline);
    char status[256];
    snprintf(status, sizeof(status),
             "STATUS=%d partition(s), %zu case(s); %llu events applied, %llu dead letters",
             s->partitions_owned, s->cases_in_memory, (unsigned long long)s->applied,
             (unsigned long long)s->dead_letters);
    sd_notify(0, status);
}

static void on_usr1(evutil_socket_t sig, short what, void *arg)
{
    /* logs go to stderr (journald); nothing to reopen, but say we heard it */
    cw_log_info("SIGUSR1: logs go to stderr; nothing to reopen");
}

/* --migrate-only: one connection, the migrations, then exit: 0 when the schema is current,
 * 1 when PostgreSQL could not be reached or a migration failed, 2 when the database refuses
 * this binary (newer schema, an edited migration). */
typedef struct migrate_ctx {
    struct event_base *base;
    int rc;
} migrate_ctx_t;

static void on_migrate_state(void *arg, cw_err_t state, const char *msg)
{
    migrate_ctx_t *m = arg;
    if (state == CW_OK) {
        cw_log_info("--migrate-only: schema is current");
        m->rc = 0;
    } else {
        cw_log_error("--migrate-only: %s", msg ? msg : cw_err_str(state));
        m->rc = state == CW_ERR_SCHEMA ? 2 : 1;
    }
    event_base_loopbreak(m->base);
}

static int migrate(const cw_config_t *cfg)
{
    migrate_ctx_t m = {event_base_new(), 1};
    cw_store_opts_t so = {.conninfo = cfg->pg_conninfo,
                          .backoff_initial_ms = cfg->backoff_initial_ms,
                          .backoff_max_ms = cfg->backoff_max_ms,
                          .on_state = on_migrate_state,
                          .arg = &m};
    cw_store_t *st = cw_store_new(m.base, &so);
    event_base_dispatch(m.base);
    cw_store_destroy(st);
    event_base_free(m.base);
    return m.rc;
}

int main(int argc, char **argv)
{
    const char *path = DEFAULT_CONFIG;
    bool check_only = false;
    bool strict = false;
    bool take_over = false;
    bool migrate_only = false;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"migrate-only", no_argument, NULL, 'M'},
                                         {"check-config", no_argument, NULL, 'C'},
                                         {"strict", no_argument, NULL, 'S'},
                                         {"take-over-group", no_argument, NULL, 'T'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (o) {
        case 'c': path = optarg; break;
        case 'C': check_only = true; break;
        case 'S': strict = true; break;
        case 'T': take_over = true; break;
        case 'M': migrate_only = true; break;
        case 'V': printf("casewatchd " CW_VERSION "\n"); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }

    char err[8192];
    cw_config_t *cfg = cw_config_load(path, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "casewatchd: invalid configuration:\n%s\n", err);
        return 2;
    }
    char fds[512];
    bool fds_ok = fd_limit(cfg, fds, sizeof(fds)) == CW_OK;
    if (check_only) {
        if (!fds_ok)
            fprintf(stderr, "casewatchd: %s\n", fds);
        if (cfg->admin_token_exposed)
            fprintf(stderr, "casewatchd: %s%s\n", strict ? "refused (--strict): " : "warning: ",
                    cfg->admin_token_exposed);
        bool ok = fds_ok && !(strict && cfg->admin_token_exposed);
        if (ok)
            printf("%s: configuration OK\n", path);
        cw_config_free(cfg);
        return ok ? 0 : 2;
    }
    cw_log_threshold = cfg->log_level;
    cw_log_json = cfg->log_json;
    if (migrate_only) {
        int rc = migrate(cfg);
        cw_config_free(cfg);
        return rc;
    }
    if (!fds_ok) {
        cw_log_error("cannot start: %s", fds);
        cw_config_free(cfg);
        return 2;
    }
    cw_log_info("%s", fds);
    if (cfg->admin_token_exposed && strict) {
        cw_log_error("cannot start (--strict): %s", cfg->admin_token_exposed);
        cw_config_free(cfg);
        return 2;
    }
    if (cfg->admin_token_exposed)
        cw_log_warn("%s (casewatchd --strict refuses to start)", cfg->admin_token_exposed);
    if (geteuid() == 0)
        cw_log_warn("running as root: run casewatchd as an unprivileged user (see "
                    "deploy/casewatchd.service)");

    signal(SIGPIPE, SIG_IGN);
    cw_daemon_t d = {.cfg = cfg};
    d.base = event_base_new();
    d.ev_term = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
    d.ev_int = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
    d.ev_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
    d.ev_usr1 = evsignal_new(d.base, SIGUSR1, on_usr1, &d);
    d.ev_deadline = evtimer_new(d.base, on_deadline, &d);
    event_add(d.ev_term, NULL);
    event_add(d.ev_int, NULL);
    event_add(d.ev_hup, NULL);
    event_add(d.ev_usr1, NULL);

    d.pipeline = cw_pipeline_new(d.base, cfg, err, sizeof(err));
    if (d.pipeline)
        cw_pipeline_set_take_over(d.pipeline, take_over);
    int rc = 0;
    uint64_t wd_usec = 0;
    if (d.pipeline && strcmp(cfg->admin_listen, "off")) {
        cw_admin_opts_t ao = {.cfg = cfg,
                              .pipeline = d.pipeline,
                              .reload = reload,
                              .arg = &d,
                              .reloads = &d.reloads,
                              .version = CW_VERSION};
        d.admin = cw_admin_new(d.base, &ao, err, sizeof(err));
        if (!d.admin) {
            /* a port in use is a deployment error, not a transient fault: say so and stop */
            cw_pipeline_destroy(d.pipeline);
            d.pipeline = NULL;
        }
    }
    if (d.pipeline) {
        /* ready: configuration valid, the loop runs; the database and the group may still be
         * coming (transient faults are retried for ever, so waiting on them would hang boot) */
        sd_notify(0, "READY=1\nSTATUS=starting: connecting to PostgreSQL and Kafka");
        if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec) {
            d.ev_watchdog = event_new(d.base, -1, EV_PERSIST, on_watchdog, &d);
            struct timeval tv = {(time_t)(wd_usec / 2000000), (suseconds_t)(wd_usec / 2 % 1000000)};
            event_add(d.ev_watchdog, &tv);
        }
    }
    if (!d.pipeline) {
        cw_log_error("cannot start: %s", err);
        rc = 2;
    } else {
        cw_log_info("casewatchd started: consuming %d topic(s) into PostgreSQL", cfg->n_event_topics);
        event_base_dispatch(d.base);
        if (cw_pipeline_fatal(d.pipeline)) {
            cw_log_error("stopping: %s", cw_pipeline_fatal(d.pipeline));
            rc = 1;
        }
        cw_admin_destroy(d.admin);
        cw_pipeline_destroy(d.pipeline);
        if (rc == 0)
            cw_log_info("casewatchd stopped%s", d.stopped_cleanly ? "" : " (shutdown deadline)");
    }
    event_free(d.ev_term);
    event_free(d.ev_int);
    event_free(d.ev_hup);
    event_free(d.ev_usr1);
    event_free(d.ev_deadline);
    if (d.ev_watchdog)
        event_free(d.ev_watchdog);
    event_base_free(d.base);
    cw_config_free(cfg);
    return rc;
}
