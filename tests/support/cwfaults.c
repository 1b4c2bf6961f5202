/*
 * cwfaults.c — the fault suite's reference log, scenario databases, generator load and the
 * one check that compares a scenario's outcome with the references. See cwfaults.h.
 *
 * Comparisons run in SQL inside the scenario's database: the references (Python's distinct
 * events, the dry run's notifications, the ids read back from the alerts topic with kcat) are
 * loaded next to the daemon's tables with psql \copy, so a mismatch can be listed by key.
 */
#include "cwfaults.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define say(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))

/* ---- small helpers ------------------------------------------------------------------------ */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool cwf_wait_scalar(const cwt_pg_t *db, const char *sql, long long want, int timeout_ms)
{
    long long got = -2, end = now_ms() + timeout_ms;
    do {
        got = cwt_pg_scalar(db, sql);
        if (got == want)
            return true;
        usleep(200000);
    } while (now_ms() < end);
    say("%s: wanted %lld, got %lld after %d ms", sql, want, got, timeout_ms);
    return false;
}

bool cwf_wait_at_least(const cwt_pg_t *db, const char *sql, long long want, int timeout_ms)
{
    long long got = -2, end = now_ms() + timeout_ms;
    do {
        got = cwt_pg_scalar(db, sql);
        if (got >= want)
            return true;
        usleep(200000);
    } while (now_ms() < end);
    say("%s: wanted at least %lld, got %lld after %d ms", sql, want, got, timeout_ms);
    return false;
}

bool cwf_wait_log(const char *path, const char *regex, int timeout_ms)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "grep -qE '%s' '%s'", regex, path);
    long long end = now_ms() + timeout_ms;
    do {
        if (cwt_run(cmd, NULL, 0) == 0)
            return true;
        usleep(100000);
    } while (now_ms() < end);
    say("no line matching '%s' in %s after %d ms", regex, path, timeout_ms);
    return false;
}

/* psql \copy a TSV file into table (created by the caller) */
static int copy_in(const cwt_pg_t *db, const char *table, const char *path)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "psql -q -v ON_ERROR_STOP=1 '%s' -c \"\\copy %s from '%s'\"",
             db->conninfo, table, path);
    int rc = cwt_run(cmd, NULL, 0);
    if (rc != 0)
        say("psql \\copy %s from %s failed (status %d)", table, path, rc);
    return rc == 0 ? 0 : -1;
}

static json_object *run_json(const char *cmd)
{
    size_t cap = 64 << 20, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    int rc = cwt_run_capture(cmd, out, cap - 1, &len);
    out[len] = '\0';
    json_object *j = rc == 0 ? json_tokener_parse(out) : NULL;
    if (!j)
        say("command failed or printed no JSON (status %d): %s", rc, cmd);
    free(out);
    return j;
}

/* ---- the reference ------------------------------------------------------------------------ */

/* casewatch-dryrun --json lines -> "seq TAB dedup_key TAB state" */
static int dryrun_to_tsv(cwf_ref_t *r, const char *jsonl)
{
    FILE *in = fopen(jsonl, "r"), *out = fopen(r->dryrun_tsv, "w");
    if (!in || !out) {
        say("cannot open %s or %s: %s", jsonl, r->dryrun_tsv, strerror(errno));
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        return -1;
    }
    char line[4096];
    long long n = 0;
    int bad = 0;
    while (fgets(line, sizeof(line), in)) {
        json_object *o = json_tokener_parse(line), *k, *s;
        if (!o || !json_object_object_get_ex(o, "dedup_key", &k) ||
            !json_object_object_get_ex(o, "state", &s)) {
            bad++;
        } else {
            n++;
            fprintf(out, "%lld\t%s\t%s\n", n, json_object_get_string(k), json_object_get_string(s));
        }
        json_object_put(o);
    }
    fclose(in);
    if (fclose(out) != 0 || bad) {
        say("dry run output: %d line(s) unreadable", bad);
        return -1;
    }
    r->dry_notifications = n;
    return 0;
}

int cwf_ref_build(cwf_ref_t *r, const char *dir, const char *gen_args, const char *as_of,
                  const char *rules_ini)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "%s", dir);
    snprintf(r->gen_args, sizeof(r->gen_args), "%s", gen_args);
    snprintf(r->as_of, sizeof(r->as_of), "%s", as_of);
    snprintf(r->log, sizeof(r->log), "%s/log.bin", dir);
    snprintf(r->rules, sizeof(r->rules), "%s/rules.ini", dir);
    snprintf(r->events_tsv, sizeof(r->events_tsv), "%s/ref-events.tsv", dir);
    snprintf(r->dryrun_tsv, sizeof(r->dryrun_tsv), "%s/ref-dryrun.tsv", dir);

    FILE *f = fopen(r->rules, "w");
    if (!f || fputs(rules_ini, f) < 0 || fclose(f) != 0) {
        say("cannot write %s", r->rules);
        return -1;
    }
    char cmd[8192], out[4096];
    /* the generator's summary ends "…, N bad": the garbage one publication adds on Kafka */
    snprintf(cmd, sizeof(cmd), CW_BINARY_DIR "/casewatch-gen %s --out-file %s 2>&1", gen_args,
             r->log);
    if (cwt_run(cmd, out, sizeof(out)) != 0) {
        say("casewatch-gen failed: %s\n%s", cmd, out);
        return -1;
    }
    const char *bad = strstr(out, " bad");
    const char *p = bad;
    while (p && p > out && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (!bad || p == bad) {
        say("cannot read the garbage count from: %s", out);
        return -1;
    }
    r->garbage = atoll(p);
    fprintf(stderr, "reference log: %s", out);

    /* the distinct valid events, read by the Python reference (no daemon code) */
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import figures; "
             "w = sys.stdout.write; [w(\"%%s\\t%%s\\n\" %% (e.event_id, e.case_id)) "
             "for e in figures.read_log(sys.argv[2])]' " CW_SOURCE_DIR "/tests/reference %s > %s"
             " && wc -l < %s",
             r->log, r->events_tsv, r->events_tsv);
    if (cwt_run(cmd, out, sizeof(out)) != 0) {
        say("reading the log with tests/reference/figures.py failed");
        return -1;
    }
    r->events = atoll(out);

    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 " CW_SOURCE_DIR "/tests/reference/figures.py %s --as-of %s "
             "--all-scopes",
             r->log, as_of);
    r->figures = run_json(cmd);
    if (!r->figures)
        return -1;

    char jsonl[700], err[700];
    snprintf(jsonl, sizeof(jsonl), "%s/dryrun.jsonl", dir);
    snprintf(err, sizeof(err), "%s/dryrun.err", dir);
    snprintf(cmd, sizeof(cmd),
             CW_BINARY_DIR "/casewatch-dryrun --log %s --rules %s --json > %s 2> %s && "
                           "sed -n 's/.* \\([0-9][0-9]*\\) alerts firing at the end.*/\\1/p' %s",
             r->log, r->rules, jsonl, err, err);
    if (cwt_run(cmd, out, sizeof(out)) != 0) {
        say("casewatch-dryrun failed");
        cwt_dump_file(err);
        return -1;
    }
    r->dry_firing_end = atoll(out);
    if (dryrun_to_tsv(r, jsonl))
        return -1;
    fprintf(stderr,
            "reference: %lld distinct events, %lld garbage per publication, as of %s; "
            "dry run: %lld notifications, %lld alerts firing at the end\n",
            r->events, r->garbage, r->as_of, r->dry_notifications, r->dry_firing_end);
    return r->events > 0 ? 0 : -1;
}

void cwf_ref_fini(cwf_ref_t *r)
{
    if (r->figures)
        json_object_put(r->figures);
    r->figures = NULL;
}

/* ---- databases, load, progress ------------------------------------------------------------ */

int cwf_db_create(const cwt_pg_t *server, const char *name, cwt_pg_t *db)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    if (cwt_pg_exec(server, sql))
        return -1;
    *db = *server;
    char *d = strstr(db->conninfo, "dbname=");
    if (!d) {
        say("no dbname= in '%s'", server->conninfo);
        return -1;
    }
    snprintf(d, sizeof(db->conninfo) - (size_t)(d - db->conninfo), "dbname=%s", name);
    return 0;
}

pid_t cwf_gen_start(const cwf_ref_t *r, const cwt_broker_t *b, double speed, const char *out_file,
                    const char *out_log)
{
    char cmd[8192], pace[64] = "--asap";
    if (speed > 0)
        snprintf(pace, sizeof(pace), "--speed %.0f", speed);
    snprintf(cmd, sizeof(cmd),
             "exec " CW_BINARY_DIR "/casewatch-gen %s %s --kafka %s --out-file %s >> %s 2>&1",
             r->gen_args, pace, b->bootstrap, out_file, out_log);
    pid_t pid = fork();
    if (pid < 0) {
        say("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int cwf_gen_wait(const cwf_ref_t *r, pid_t gen, const char *out_file, int timeout_ms)
{
    int status = 0;
    long long end = now_ms() + timeout_ms;
    pid_t w;
    while ((w = waitpid(gen, &status, WNOHANG)) == 0 && now_ms() < end)
        usleep(100000);
    if (w == 0) {
        say("casewatch-gen still running after %d ms: killed", timeout_ms);
        kill(gen, SIGKILL);
        waitpid(gen, &status, 0);
        return -1;
    }
    if (w != gen || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        say("casewatch-gen failed (status 0x%x)", status);
        return -1;
    }
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cmp -s %s %s", r->log, out_file);
    if (cwt_run(cmd, NULL, 0) != 0) {
        say("%s differs from the reference log %s: not the same publication", out_file, r->log);
        return -1;
    }
    return 0;
}

long long cwf_topic_messages(const cwt_broker_t *b)
{
    int a = cwt_kcat_count(b, "casewatch.case-events", 60000);
    int h = cwt_kcat_count(b, "casewatch.hearing-events", 60000);
    return a < 0 || h < 0 ? -1 : (long long)a + h;
}

bool cwf_wait_caught_up(const cwt_pg_t *db, const cwt_broker_t *b, int timeout_ms)
{
    long long total = cwf_topic_messages(b);
    if (total <= 0)
        return false;
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
             "WHERE next_offset > 0");
    return cwf_wait_scalar(db, sql, total, timeout_ms);
}

/* ---- figures ------------------------------------------------------------------------------ */

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

/* every figure of the reference's scope against the report's; returns mismatches */
static int compare_scope(json_object *ref, json_object *rep, const char *scope, int *compared)
{
    json_object *rf, *pf;
    if (!json_object_object_get_ex(ref, "figures", &rf) ||
        !json_object_object_get_ex(rep, "figures", &pf)) {
        say("%s: no figures", scope);
        return 1;
    }
    int bad = 0;
    size_t nr = json_object_array_length(rf), np = json_object_array_length(pf);
    for (size_t i = 0; i < nr; i++) {
        json_object *a = json_object_array_get_idx(rf, i), *av = NULL, *bv = NULL;
        const char *name = jstr(a, "name"), *type = jstr(a, "case_type");
        json_object *match = NULL;
        for (size_t k = 0; k < np && !match; k++) {
            json_object *b = json_object_array_get_idx(pf, k);
            if (!strcmp(jstr(b, "name"), name) && !strcmp(jstr(b, "case_type"), type))
                match = b;
        }
        (*compared)++;
        if (!match) {
            say("%s: %s/%s missing from the report", scope, name, type);
            bad++;
            continue;
        }
        json_object_object_get_ex(a, "value", &av);
        json_object_object_get_ex(match, "value", &bv);
        bool ok = (!av || !bv)
                      ? (!av && !bv)
                      : fabs(json_object_get_double(av) - json_object_get_double(bv)) < 1e-9;
        if (!ok) {
            say("%s: %s/%s: reference %s, casewatch %s", scope, name, type,
                av ? json_object_to_json_string(av) : "null",
                bv ? json_object_to_json_string(bv) : "null");
            bad++;
        }
    }
    json_object *ra, *pa;
    (*compared)++;
    if (!json_object_object_get_ex(ref, "areas_prioritised", &ra) ||
        !json_object_object_get_ex(rep, "areas_prioritised", &pa) ||
        strcmp(json_object_to_json_string(ra), json_object_to_json_string(pa))) {
        say("%s: prioritised areas differ", scope);
        bad++;
    }
    return bad;
}

static void compare_figures(const cwf_ref_t *r, const cwt_pg_t *db, cwf_result_t *res)
{
    json_object *nat, *areas;
    if (!json_object_object_get_ex(r->figures, "national", &nat) ||
        !json_object_object_get_ex(r->figures, "areas", &areas)) {
        res->figure_mismatches++;
        return;
    }
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), CW_BINARY_DIR "/casewatch-report --db '%s' --as-of %s --json",
             db->conninfo, r->as_of);
    json_object *rep = run_json(cmd);
    res->figure_mismatches += rep ? compare_scope(nat, rep, "national", &res->figures) : 1;
    if (rep)
        json_object_put(rep);
    json_object_object_foreach(areas, name, aref)
    {
        snprintf(cmd, sizeof(cmd),
                 CW_BINARY_DIR "/casewatch-report --db '%s' --as-of %s --json --area %s",
                 db->conninfo, r->as_of, name);
        json_object *arep = run_json(cmd);
        res->figure_mismatches += arep ? compare_scope(aref, arep, name, &res->figures) : 1;
        if (arep)
            json_object_put(arep);
        res->areas++;
    }
}

/* ---- the check ------------------------------------------------------------------------------ */

/* print up to 10 rows of a one-column query, prefixed */
static void list_rows(const cwt_pg_t *db, const char *what, const char *sql)
{
    PGconn *c = cwt_pg_connect(db);
    if (!c)
        return;
    PGresult *q = PQexec(c, sql);
    if (PQresultStatus(q) == PGRES_TUPLES_OK)
        for (int i = 0; i < PQntuples(q) && i < 10; i++)
            say("  %s: %s", what, PQgetvalue(q, i, 0));
    PQclear(q);
    PQfinish(c);
}

static long long q(const cwt_pg_t *db, const char *sql)
{
    return cwt_pg_scalar(db, sql);
}

#define DRY_FINAL_FIRING                                                                           \
    "(SELECT dedup_key FROM (SELECT DISTINCT ON (dedup_key) dedup_key, state FROM fx_ref_dry "     \
    "ORDER BY dedup_key, seq DESC) l WHERE state = 'firing')"
#define DAEMON_FIRING "(SELECT dedup_key FROM alerts WHERE state = 'firing' AND kpartition >= 0)"

int cwf_dump_alert_ids(const cwt_broker_t *b, const char *path)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "kcat -C -b %s -t casewatch.alerts -o beginning -e -q -f '%%h\\n' > %s.raw && "
             "{ grep -o 'casewatch.alert_id=a[0-9a-f]*' %s.raw || true; } | cut -d= -f2 >> %s && "
             "rm -f %s.raw",
             b->bootstrap, path, path, path, path);
    int rc = cwt_run(cmd, NULL, 0);
    if (rc != 0)
        say("reading the alerts topic with kcat failed (status %d)", rc);
    return rc == 0 ? 0 : -1;
}

int cwf_check(const cwf_ref_t *r, const cwt_pg_t *db, const cwt_broker_t *b, const char *scenario,
              long long dl_expected, const char *earlier_ids, double elapsed_s, int timeout_ms,
              cwf_result_t *res)
{
    /* a failed check still prints its summary: stdout and stderr interleave in order */
    fflush(stderr);
    memset(res, 0, sizeof(*res));
    res->events = r->events;
    res->dl_expected = dl_expected;

    /* the outbox drains, and stays drained over three metrics intervals (area rules run at
     * the snapshots, and the first after a catch-up waits for the main connection, which the
     * retention prune and the loads share); if it does not, the check goes on and counts what
     * never reached the topic */
    const char *unsent = "SELECT count(*) FROM alert_outbox WHERE sent_at IS NULL AND NOT silenced";
    long long h0 = -1, h1 = -2;
    for (int i = 0; i < 10 && h0 != h1; i++) {
        if (!cwf_wait_scalar(db, unsent, 0, timeout_ms))
            break;
        h0 = q(db, "SELECT count(*) FROM alert_history");
        usleep(3500000);
        h1 = q(db, "SELECT count(*) FROM alert_history");
    }
    res->unsent = q(db, unsent);

    /* the references, next to the daemon's tables */
    char path[700], cmd[8192];
    snprintf(path, sizeof(path), "%s/topic-alerts-%s.txt", r->dir, scenario);
    if (earlier_ids)
        snprintf(cmd, sizeof(cmd), "cat %s > %s", earlier_ids, path);
    else
        snprintf(cmd, sizeof(cmd), ": > %s", path);
    if (cwt_run(cmd, NULL, 0) != 0 || cwf_dump_alert_ids(b, path))
        return -1;
    if (cwt_pg_exec(db, "SET client_min_messages = warning;"
                        "DROP TABLE IF EXISTS fx_ref_events, fx_ref_dry, fx_topic_alerts;"
                        "CREATE TABLE fx_ref_events (event_id text PRIMARY KEY, case_id text);"
                        "CREATE TABLE fx_ref_dry (seq bigint, dedup_key text, state text);"
                        "CREATE TABLE fx_topic_alerts (alert_id text)") ||
        copy_in(db, "fx_ref_events", r->events_tsv) || copy_in(db, "fx_ref_dry", r->dryrun_tsv) ||
        copy_in(db, "fx_topic_alerts", path) ||
        cwt_pg_exec(db, "CREATE INDEX ON fx_topic_alerts (alert_id); ANALYZE"))
        return -1;

    /* events: lost, extra, counted twice */
    res->stored = q(db, "SELECT count(*) FROM event_log");
    res->lost = q(db, "SELECT count(*) FROM fx_ref_events r WHERE NOT EXISTS "
                      "(SELECT 1 FROM event_log e WHERE e.event_id = r.event_id)");
    res->extra = q(db, "SELECT count(*) FROM event_log e WHERE NOT EXISTS "
                       "(SELECT 1 FROM fx_ref_events r WHERE r.event_id = e.event_id)");
    const char *per_case = "(SELECT case_id, count(*) AS n FROM fx_ref_events WHERE case_id <> '' "
                           "GROUP BY 1)";
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(greatest(c.event_count - coalesce(m.n, 0), 0)), 0) "
             "FROM cases c LEFT JOIN %s m USING (case_id)",
             per_case);
    res->doubled = q(db, sql);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM %s m FULL JOIN cases c USING (case_id) "
             "WHERE c.event_count IS DISTINCT FROM m.n",
             per_case);
    res->case_mismatches = q(db, sql);
    res->dead_letters = q(db, "SELECT count(*) FROM dead_letters");
    if (res->lost)
        list_rows(db, "lost",
                  "SELECT event_id FROM fx_ref_events r WHERE NOT EXISTS "
                  "(SELECT 1 FROM event_log e WHERE e.event_id = r.event_id)");
    if (res->case_mismatches) {
        snprintf(sql, sizeof(sql),
                 "SELECT coalesce(m.case_id, c.case_id) || ': log ' || coalesce(m.n, 0) || "
                 "', cases.event_count ' || coalesce(c.event_count, 0) FROM %s m FULL JOIN "
                 "cases c USING (case_id) WHERE c.event_count IS DISTINCT FROM m.n",
                 per_case);
        list_rows(db, "case count", sql);
    }

    compare_figures(r, db, res);

    /* alerts */
    res->notifications =
        q(db, "SELECT count(*) FROM alert_history WHERE notified AND NOT silenced");
    res->firing = q(db, "SELECT count(*) FROM alert_history WHERE notified AND NOT silenced "
                        "AND to_state = 'firing'");
    res->delivered = q(db, "SELECT count(DISTINCT alert_id) FROM alert_history h WHERE notified "
                           "AND NOT silenced AND EXISTS (SELECT 1 FROM fx_topic_alerts t WHERE "
                           "t.alert_id = h.alert_id)");
    res->undelivered = q(db, "SELECT count(DISTINCT alert_id) FROM alert_history h WHERE notified "
                             "AND NOT silenced AND NOT EXISTS (SELECT 1 FROM fx_topic_alerts t "
                             "WHERE t.alert_id = h.alert_id)");
    res->resent = q(db, "SELECT count(*) - count(DISTINCT alert_id) FROM fx_topic_alerts");
    res->history_doubled = q(db, "SELECT count(*) FROM (SELECT alert_id, to_state FROM "
                                 "alert_history GROUP BY 1, 2 HAVING count(*) > 1) d");
    res->lifecycle_errors = q(db, "SELECT count(*) FROM (SELECT to_state, lag(to_state) OVER "
                                  "(PARTITION BY dedup_key ORDER BY id) AS prev FROM "
                                  "alert_history WHERE notified AND NOT repeat) t "
                                  "WHERE to_state = prev");
    res->firing_end = q(db, "SELECT count(*) FROM " DAEMON_FIRING " d");
    res->firing_missing = q(db, "SELECT count(*) FROM " DRY_FINAL_FIRING " f WHERE dedup_key "
                                "NOT IN " DAEMON_FIRING);
    res->firing_extra =
        q(db, "SELECT count(*) FROM " DAEMON_FIRING " d WHERE dedup_key NOT IN " DRY_FINAL_FIRING);
    res->area_alerts = q(db, "SELECT count(*) FROM alert_history h JOIN alerts a USING "
                             "(dedup_key) WHERE h.notified AND a.kpartition < 0");
    res->families = (int)q(db, "SELECT count(DISTINCT a.family) FROM alert_history h JOIN alerts "
                               "a USING (dedup_key) WHERE h.to_state = 'firing'");
    if (res->undelivered)
        list_rows(db, "not on the alerts topic",
                  "SELECT DISTINCT h.alert_id || ' ' || h.dedup_key || ' ' || h.to_state || "
                  "' committed ' || o.created_at || CASE WHEN o.sent_at IS NULL THEN ', unsent' "
                  "ELSE ', marked sent ' || o.sent_at END FROM alert_history h LEFT JOIN "
                  "alert_outbox o USING (alert_id) WHERE h.notified AND NOT h.silenced AND NOT "
                  "EXISTS (SELECT 1 FROM fx_topic_alerts t WHERE t.alert_id = h.alert_id)");
    if (res->history_doubled)
        list_rows(db, "recorded twice",
                  "SELECT h.alert_id || ' ' || h.dedup_key || ' ' || h.from_state || '->' || "
                  "h.to_state || coalesce(' ' || h.resolution, '') || CASE WHEN h.repeat THEN "
                  "' repeat' ELSE '' END || ' at ' || h.at || ' recorded ' || h.recorded_at || "
                  "' cause ' || coalesce(h.cause_event_id, '-') FROM alert_history h JOIN "
                  "(SELECT alert_id, to_state FROM alert_history GROUP BY 1, 2 HAVING count(*) "
                  "> 1) d USING (alert_id, to_state) ORDER BY h.alert_id, h.id");
    if (res->history_doubled || res->lifecycle_errors)
        list_rows(db, "announced twice",
                  "SELECT dedup_key || ' ' || to_state FROM (SELECT dedup_key, to_state, "
                  "lag(to_state) OVER (PARTITION BY dedup_key ORDER BY id) AS prev FROM "
                  "alert_history WHERE notified AND NOT repeat) t WHERE to_state = prev");
    if (res->firing_missing)
        list_rows(db, "firing in the dry run only",
                  "SELECT dedup_key FROM " DRY_FINAL_FIRING
                  " f WHERE dedup_key NOT IN " DAEMON_FIRING);
    if (res->firing_extra)
        list_rows(db, "firing in casewatchd only",
                  "SELECT dedup_key FROM " DAEMON_FIRING
                  " d WHERE dedup_key NOT IN " DRY_FINAL_FIRING);

    long long mismatches = res->figure_mismatches + res->firing_missing + res->firing_extra;
    printf(
        "faults[%s]: %.0f s, events %lld/%lld, lost %lld, doubled %lld (extra %lld, cases "
        "off %lld), dead letters %lld/%lld; alerts %lld notified (%lld firing, %lld area/worker, "
        "%d families), delivered %lld, undelivered %lld (unsent %lld), re-sent %lld, announced "
        "twice %lld; "
        "figures compared %d (national + %d areas) + %lld final firing alerts vs dry run "
        "%lld: mismatches %lld\n",
        scenario, elapsed_s, res->stored, res->events, res->lost, res->doubled, res->extra,
        res->case_mismatches, res->dead_letters, res->dl_expected, res->notifications, res->firing,
        res->area_alerts, res->families, res->delivered, res->undelivered, res->unsent, res->resent,
        res->history_doubled + res->lifecycle_errors, res->figures, res->areas, res->firing_end,
        r->dry_firing_end, mismatches);
    fflush(stdout);
    return 0;
}

/* ---- the alert history ([L]) ---------------------------------------------------------------- */

/* the case-scoped keys: area and worker alerts come from the daemon's snapshots */
static bool case_scoped(const char *dedup_key)
{
    return !strstr(dedup_key, "|area:") && !strstr(dedup_key, "|worker:");
}

/* s as a COPY text-format field (backslash, tab and line breaks escaped) */
static void put_field(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\t')
            fputs("\\t", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (*s == '\r')
            fputs("\\r", out);
        else
            fputc(*s, out);
    }
}

static bool jbool(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

/* casewatch-dryrun --json lines -> r->history_tsv (see cwf_history_ref_build) */
static int history_to_tsv(cwf_ref_t *r, const char *jsonl)
{
    FILE *in = fopen(jsonl, "r"), *out = fopen(r->history_tsv, "w");
    if (!in || !out) {
        say("cannot open %s or %s: %s", jsonl, r->history_tsv, strerror(errno));
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long long bad = 0, repeats = 0, scoped_out = 0;
    r->dry_transitions = r->dry_historic = 0;
    while (getline(&line, &cap, in) > 0) {
        json_object *o = json_tokener_parse(line), *k, *s, *at;
        if (!o || !json_object_object_get_ex(o, "dedup_key", &k) ||
            !json_object_object_get_ex(o, "state", &s) ||
            !json_object_object_get_ex(o, "at", &at)) {
            bad++;
            json_object_put(o);
            continue;
        }
        const char *key = json_object_get_string(k), *state = json_object_get_string(s);
        if (jbool(o, "repeat"))
            repeats++;
        else if (!case_scoped(key))
            scoped_out++;
        else if (!strcmp(state, "firing") || !strcmp(state, "resolved")) {
            put_field(out, key);
            fputc('\t', out);
            put_field(out, state);
            fputc('\t', out);
            put_field(out, jstr(o, "resolution"));
            fprintf(out, "\t%lld\t", (long long)json_object_get_int64(at));
            put_field(out, jstr(o, "cause_event_id"));
            fputc('\n', out);
            r->dry_transitions++;
            r->dry_historic += jbool(o, "historic");
        }
        json_object_put(o);
    }
    free(line);
    fclose(in);
    if (fclose(out) != 0 || bad) {
        say("dry run history: %lld line(s) unreadable", bad);
        return -1;
    }
    fprintf(stderr,
            "history reference: %lld case-scoped transitions (%lld historic), %lld repeats and "
            "%lld area/worker lines left out\n",
            r->dry_transitions, r->dry_historic, repeats, scoped_out);
    return 0;
}

int cwf_history_ref_build(cwf_ref_t *r, int partitions, long long lateness_ms)
{
    char jsonl[700], err[700], cmd[8192];
    snprintf(r->history_tsv, sizeof(r->history_tsv), "%s/ref-history.tsv", r->dir);
    snprintf(jsonl, sizeof(jsonl), "%s/dryrun-history.jsonl", r->dir);
    snprintf(err, sizeof(err), "%s/dryrun-history.err", r->dir);
    r->history_lateness_ms = lateness_ms;
    r->history_partitions = partitions;
    snprintf(cmd, sizeof(cmd),
             CW_BINARY_DIR "/casewatch-dryrun --log %s --rules %s --partitions %d "
                           "--lateness-ms %lld --json > %s 2> %s",
             r->log, r->rules, partitions, lateness_ms, jsonl, err);
    int rc = cwt_run(cmd, NULL, 0);
    if (rc != 0) {
        snprintf(cmd, sizeof(cmd), "grep -q -- '--partitions' %s", err);
        if (rc != 2 || cwt_run(cmd, NULL, 0) != 0) {
            say("casewatch-dryrun (history) failed (status %d)", rc);
            cwt_dump_file(err);
            r->history_tsv[0] = '\0';
            return -1;
        }
        /* a dry run from before [L]: keep its list to show what differs, flagged unusable */
        say("casewatch-dryrun does not know --partitions (built before [L]): the history "
            "reference below is the global-clock dry run, NOT the per-partition one; every "
            "history check will fail");
        r->history_partitions = 0;
        snprintf(cmd, sizeof(cmd),
                 CW_BINARY_DIR "/casewatch-dryrun --log %s --rules %s --lateness-ms %lld "
                               "--json > %s 2> %s",
                 r->log, r->rules, lateness_ms, jsonl, err);
        if (cwt_run(cmd, NULL, 0) != 0) {
            say("casewatch-dryrun (history, without --partitions) failed");
            cwt_dump_file(err);
            r->history_tsv[0] = '\0';
            return -1;
        }
    }
    if (history_to_tsv(r, jsonl)) {
        r->history_tsv[0] = '\0';
        return -1;
    }
    return 0;
}

/* the daemon's side of the comparison, as (k, s, r, t, cause) */
#define DAEMON_HISTORY                                                                             \
    "SELECT dedup_key AS k, to_state AS s, coalesce(resolution, '') AS r, "                        \
    "(extract(epoch FROM at) * 1000)::bigint AS t, coalesce(cause_event_id, '') AS cause "         \
    "FROM alert_history WHERE to_state IN ('firing', 'resolved') AND NOT repeat "                  \
    "AND strpos(dedup_key, '|area:') = 0 AND strpos(dedup_key, '|worker:') = 0"

bool cwf_history_settle(const cwt_pg_t *db, int quiet_ms, int timeout_ms)
{
    const char *sql = "SELECT count(*) * 1000003 + coalesce(max(id), 0) FROM alert_history "
                      "WHERE strpos(dedup_key, '|area:') = 0 AND strpos(dedup_key, '|worker:') = 0";
    long long end = now_ms() + timeout_ms, last = cwt_pg_scalar(db, sql), since = now_ms();
    while (now_ms() < end) {
        usleep(250000);
        long long v = cwt_pg_scalar(db, sql);
        if (v != last) {
            last = v;
            since = now_ms();
        } else if (now_ms() - since >= quiet_ms) {
            return true;
        }
    }
    say("alert_history still changing after %d ms", timeout_ms);
    return false;
}

/* print the first 20 (CWT_HISTORY_DIFFS) differences: side, key, state, resolution, time, cause */
static void list_history_differences(const cwt_pg_t *db)
{
    PGconn *c = cwt_pg_connect(db);
    if (!c)
        return;
    /* CWT_HISTORY_DIFFS=N lists N (default 20) */
    const char *lim = getenv("CWT_HISTORY_DIFFS");
    char sql[400];
    snprintf(sql, sizeof(sql),
             "SELECT side, k, s, r, t, to_char(to_timestamp(t / 1000.0) AT TIME ZONE 'UTC', "
             "'YYYY-MM-DD HH24:MI:SS.MS'), cause FROM fx_hist_diff ORDER BY k, t, side LIMIT %d",
             lim && atoi(lim) > 0 ? atoi(lim) : 20);
    PGresult *q = PQexec(c, sql);
    if (PQresultStatus(q) == PGRES_TUPLES_OK)
        for (int i = 0; i < PQntuples(q); i++)
            say("  %-15s %s %s%s%s at %s (%s) cause %s", PQgetvalue(q, i, 0), PQgetvalue(q, i, 1),
                PQgetvalue(q, i, 2), *PQgetvalue(q, i, 3) ? " " : "", PQgetvalue(q, i, 3),
                PQgetvalue(q, i, 5), PQgetvalue(q, i, 4),
                *PQgetvalue(q, i, 6) ? PQgetvalue(q, i, 6) : "-");
    else
        say("listing the differences failed: %s", PQerrorMessage(c));
    PQclear(q);
    PQfinish(c);
}

int cwf_history_check(const cwf_ref_t *r, const cwt_pg_t *db, const char *scenario,
                      cwf_history_t *res)
{
    fflush(stderr);
    memset(res, 0, sizeof(*res));
    if (!r->history_tsv[0]) {
        say("history[%s]: no history reference (cwf_history_ref_build failed or not called)",
            scenario);
        return -1;
    }
    res->reference_ok = r->history_partitions > 0;
    /* both lists as tables, then their multiset difference: each row numbered among its equals
     * so that a transition recorded twice on one side is a difference too */
    if (cwt_pg_exec(db,
                    "SET client_min_messages = warning;"
                    "DROP TABLE IF EXISTS fx_hist_dry, fx_hist_cw, fx_hist_diff;"
                    "CREATE TABLE fx_hist_dry (k text, s text, r text, t bigint, cause text)") ||
        copy_in(db, "fx_hist_dry", r->history_tsv) ||
        cwt_pg_exec(db, "CREATE TABLE fx_hist_cw AS " DAEMON_HISTORY ";"
                        "CREATE TABLE fx_hist_diff AS "
                        "WITH d AS (SELECT *, row_number() OVER (PARTITION BY k, s, r, t "
                        "ORDER BY cause) AS n FROM fx_hist_dry), "
                        "c AS (SELECT *, row_number() OVER (PARTITION BY k, s, r, t "
                        "ORDER BY cause) AS n FROM fx_hist_cw) "
                        "SELECT CASE WHEN c.k IS NULL THEN 'dry run only' ELSE 'casewatchd only' "
                        "END AS side, coalesce(d.k, c.k) AS k, coalesce(d.s, c.s) AS s, "
                        "coalesce(d.r, c.r) AS r, coalesce(d.t, c.t) AS t, "
                        "coalesce(d.cause, c.cause) AS cause "
                        "FROM d FULL JOIN c ON d.k = c.k AND d.s = c.s AND d.r = c.r AND d.t = c.t "
                        "AND d.n = c.n WHERE d.k IS NULL OR c.k IS NULL"))
        return -1;
    res->dry = q(db, "SELECT count(*) FROM fx_hist_dry");
    res->daemon = q(db, "SELECT count(*) FROM fx_hist_cw");
    res->dry_only = q(db, "SELECT count(*) FROM fx_hist_diff WHERE side = 'dry run only'");
    res->daemon_only = q(db, "SELECT count(*) FROM fx_hist_diff WHERE side = 'casewatchd only'");
    res->time_only =
        q(db, "WITH a AS (SELECT k, s, r, row_number() OVER (PARTITION BY k, s, r ORDER BY t) "
              "AS n FROM fx_hist_diff WHERE side = 'dry run only'), "
              "b AS (SELECT k, s, r, row_number() OVER (PARTITION BY k, s, r ORDER BY t) AS n "
              "FROM fx_hist_diff WHERE side = 'casewatchd only') "
              "SELECT count(*) FROM a JOIN b USING (k, s, r, n)");
    res->daemon_historic = -1;
    if (q(db, "SELECT count(*) FROM information_schema.columns WHERE table_name = "
              "'alert_history' AND column_name = 'historic'") == 1)
        res->daemon_historic = q(db, "SELECT count(*) FROM alert_history WHERE historic");
    if (res->dry < 0 || res->daemon < 0 || res->dry_only < 0 || res->daemon_only < 0 ||
        res->time_only < 0)
        return -1;
    if (!res->reference_ok)
        say("history[%s]: the reference is not the per-partition dry run (see above)", scenario);
    if (res->dry_only || res->daemon_only) {
        say("history[%s]: first differences (of %lld), by key and time:", scenario,
            res->dry_only + res->daemon_only);
        list_history_differences(db);
    }
    printf("history[%s]: casewatchd %lld case-scoped transitions, dry run %lld "
           "(--partitions %d, --lateness-ms %lld): %lld only in the dry run, %lld only in "
           "casewatchd (%lld of them differ only in time); historic: casewatchd %lld, dry run "
           "%lld\n",
           scenario, res->daemon, res->dry, r->history_partitions, r->history_lateness_ms,
           res->dry_only, res->daemon_only, res->time_only, res->daemon_historic, r->dry_historic);
    fflush(stdout);
    return 0;
}
