/*
 * casewatch report — the operations board's figures, read from the aggregates casewatchd keeps
 * in PostgreSQL, printed the way the board pack's "operating context" slides read, or as JSON.
 *
 * A tool, not the daemon: it may block (PQexec). It reads only aggregate tables, never cases.
 */
#include "casewatch/aggread.h"
#include "casewatch/config.h"
#include "casewatch/figures.h"
#include "casewatch/board.h"
#include "casewatch/workdays.h"

#include <getopt.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: casewatch-report (-c FILE | --db CONNINFO) [--as-of YYYY-MM-DD] [--area AREA]\n"
            "                        [--json] [--holidays FILE]\n"
            "  -c, --config FILE   casewatchd's configuration (for [postgres] conninfo)\n"
            "      --db CONNINFO   a libpq connection string instead\n"
            "      --as-of DATE    the figures as of the end of this UTC day (default: today)\n"
            "      --area AREA     one court area (default: national)\n"
            "      --json          machine-readable output\n"
            "      --holidays FILE extra bank holidays (YYYY-MM-DD per line)\n");
}

static PGresult *query(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "casewatch-report: query failed: %s", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

static double fv(const cw_figure_t *f, size_t n, const char *name, const char *group,
                 bool *null)
{
    const cw_figure_t *x = cw_figures_find(f, n, name, group);
    *null = !x || x->is_null;
    return x && !x->is_null ? x->value : 0;
}

/* "1,234" */
static const char *num(char *buf, size_t sz, double v)
{
    char raw[32];
    snprintf(raw, sizeof(raw), "%lld", (long long)v);
    size_t len = strlen(raw), o = 0;
    for (size_t i = 0; i < len && o + 2 < sz; i++) {
        buf[o++] = raw[i];
        size_t rest = len - i - 1;
        if (rest && rest % 3 == 0 && raw[i] != '-')
            buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

static const char *dec(char *buf, size_t sz, const cw_figure_t *f, size_t n, const char *name,
                       const char *group, const char *suffix)
{
    bool null;
    double v = fv(f, n, name, group, &null);
    if (null)
        snprintf(buf, sz, "n/a");
    else
        snprintf(buf, sz, "%.1f%s", v, suffix);
    return buf;
}

static void print_text(const cw_figure_t *f, size_t n, cw_day_t D, const char *scope,
                       const char *const *prio, size_t nprio, const cw_workdays_t *wd)
{
    char d[16], fy[16], b1[32], b2[32], b3[32], b4[32];
    bool nl;
    cw_day_format(D, d, sizeof(d));
    cw_day_format(cw_day_fy_start(D), fy, sizeof(fy));
    printf("casewatch — operating context — %s — as of %s\n\n", scope, d);

    printf("Demand (financial year to date, %s to %s, %d working days)\n", fy, d,
           cw_workdays_count(wd, cw_day_fy_start(D), D));
    printf("  new children's cases per working day   %8s   (%s cases; same period last year "
           "%s; change %s)\n",
           dec(b1, sizeof(b1), f, n, "new_cases_per_working_day", "all", ""),
           num(b2, sizeof(b2), fv(f, n, "new_cases_fytd", "all", &nl)),
           num(b3, sizeof(b3), fv(f, n, "new_cases_prev_fytd", "all", &nl)),
           dec(b4, sizeof(b4), f, n, "new_cases_yoy_pct", "all", "%"));
    printf("  new children per working day           %8s   (change %s)\n",
           dec(b1, sizeof(b1), f, n, "new_children_per_working_day", "all", ""),
           dec(b2, sizeof(b2), f, n, "new_children_yoy_pct", "all", "%"));

    printf("\nOpen work at %s\n", d);
    printf("  open children's cases                  %8s   representing %s children\n",
           num(b1, sizeof(b1), fv(f, n, "open_cases", "all", &nl)),
           num(b2, sizeof(b2), fv(f, n, "open_children", "all", &nl)));
    static const char *const law[2][2] = {{"public", "public law "}, {"private", "private law"}};
    for (int i = 0; i < 2; i++) {
        char c52[32], ch52[32], c100[32], ch100[32];
        printf("  %s open 52+ weeks         %8s   cases, %s children; 100+ weeks: %s cases, "
               "%s children\n",
               law[i][1], num(c52, sizeof(c52), fv(f, n, "open_52w_cases", law[i][0], &nl)),
               num(ch52, sizeof(ch52), fv(f, n, "open_52w_children", law[i][0], &nl)),
               num(c100, sizeof(c100), fv(f, n, "open_100w_cases", law[i][0], &nl)),
               num(ch100, sizeof(ch100), fv(f, n, "open_100w_children", law[i][0], &nl)));
    }

    printf("\nDuration of closed children's cases        rolling year       rolling quarter\n");
    printf("                                            mean   median      mean   median\n");
    static const char *const types[][2] = {
        {"PUBLIC_LAW_S31", "S31 care & supervision"}, {"PUBLIC_LAW_OTHER", "other public law"},
        {"PRIVATE_LAW_WTFH", "private law (WTFH)"},   {"PRIVATE_LAW_WAFH", "private law (WAFH)"},
        {"RULE_16_4", "rule 16.4"}};
    for (size_t i = 0; i < CW_ARRAY_LEN(types); i++) {
        char m1[16], m2[16], m3[16], m4[16];
        printf("  %-28s %7s wk %6s wk %7s wk %6s wk   (%s closed in the year)\n", types[i][1],
               dec(m1, sizeof(m1), f, n, "duration_mean_weeks_year", types[i][0], ""),
               dec(m2, sizeof(m2), f, n, "duration_median_weeks_year", types[i][0], ""),
               dec(m3, sizeof(m3), f, n, "duration_mean_weeks_quarter", types[i][0], ""),
               dec(m4, sizeof(m4), f, n, "duration_median_weeks_quarter", types[i][0], ""),
               num(b1, sizeof(b1), fv(f, n, "closed_year", types[i][0], &nl)));
    }
    cw_day_t qf, ql;
    cw_day_last_complete_quarter(D, &qf, &ql);
    char q1[16], q2[16];
    cw_day_format(qf, q1, sizeof(q1));
    cw_day_format(ql, q2, sizeof(q2));
    printf("  care & supervision cases closed within 26 weeks, %s to %s: %s of %s "
           "(same quarter a year earlier: %s)\n",
           q1, q2, dec(b1, sizeof(b1), f, n, "care_within_26w_pct", "all", "%"),
           num(b2, sizeof(b2), fv(f, n, "care_closed_quarter", "all", &nl)),
           dec(b3, sizeof(b3), f, n, "care_within_26w_pct_prev_year", "all", "%"));

    printf("\nAllocation of open work (live)\n");
    printf("  allocated to teams %s · on duty awaiting allocation %s · post-assessment hubs %s "
           "· allocation hubs %s\n",
           dec(b1, sizeof(b1), f, n, "alloc_allocated_pct", "all", "%"),
           dec(b2, sizeof(b2), f, n, "alloc_duty_pct", "all", "%"),
           dec(b3, sizeof(b3), f, n, "alloc_post_assessment_hub_pct", "all", "%"),
           dec(b4, sizeof(b4), f, n, "alloc_allocation_hub_pct", "all", "%"));

    printf("\nSection 7 reports filed (financial year to date)\n");
    printf("  to the timescale agreed with the court %8s   of %s reports; extension agreed %s\n",
           dec(b1, sizeof(b1), f, n, "s7_on_time_pct", "all", "%"),
           num(b2, sizeof(b2), fv(f, n, "s7_filed_fytd", "all", &nl)),
           dec(b3, sizeof(b3), f, n, "s7_extended_pct", "all", "%"));

    printf("\nSeeing children (children of open allocated cases, live)\n");
    printf("  seen %s · seen in person %s   (of %s children)\n",
           dec(b1, sizeof(b1), f, n, "children_seen_pct", "all", "%"),
           dec(b2, sizeof(b2), f, n, "children_seen_in_person_pct", "all", "%"),
           num(b3, sizeof(b3), fv(f, n, "children_in_allocated", "all", &nl)));

    printf("\nCaseloads (open cases allocated to a worker, live)\n");
    printf("  average caseload %s, highest %s, across %s workers\n",
           dec(b1, sizeof(b1), f, n, "caseload_mean", "all", ""),
           num(b2, sizeof(b2), fv(f, n, "caseload_max", "all", &nl)),
           num(b3, sizeof(b3), fv(f, n, "workers", "all", &nl)));

    printf("\nPrioritisation (live)\n");
    if (!nprio)
        printf("  not active in any court area\n");
    else {
        printf("  active in %zu court area%s:", nprio, nprio == 1 ? "" : "s");
        for (size_t i = 0; i < nprio; i++)
            printf("%s %s", i ? "," : "", prio[i]);
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    const char *cfg_path = NULL, *db = NULL, *as_of = NULL, *area = NULL, *holidays = NULL;
    bool json = false;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"as-of", required_argument, NULL, 'a'},
                                         {"area", required_argument, NULL, 'r'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"holidays", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': cfg_path = optarg; break;
        case 'd': db = optarg; break;
        case 'a': as_of = optarg; break;
        case 'r': area = optarg; break;
        case 'j': json = true; break;
        case 'H': holidays = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    char err[8192];
    cw_config_t *cfg = NULL;
    if (!db && cfg_path) {
        cfg = cw_config_load(cfg_path, err, sizeof(err));
        if (!cfg) {
            fprintf(stderr, "casewatch-report: invalid configuration:\n%s\n", err);
            return 2;
        }
        db = cfg->pg_conninfo;
    }
    if (!db) {
        usage(stderr);
        return 2;
    }
    cw_day_t D = cw_day_from_ms(cw_now_ms());
    if (as_of && cw_day_parse(as_of, &D) != CW_OK) {
        fprintf(stderr, "casewatch-report: --as-of: expected YYYY-MM-DD, got \"%s\"\n", as_of);
        cw_config_free(cfg);
        return 2;
    }
    cw_workdays_t *wd = cw_workdays_new();
    if (holidays && cw_workdays_load_file(wd, holidays, err, sizeof(err)) != CW_OK) {
        fprintf(stderr, "casewatch-report: %s\n", err);
        cw_workdays_destroy(wd);
        cw_config_free(cfg);
        return 2;
    }

    PGconn *conn = PQconnectdb(db);
    int rc = 1;
    cw_aggread_t *r = cw_aggread_new();
    PGresult *res[5] = {NULL};
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "casewatch-report: cannot connect: %s", PQerrorMessage(conn));
        goto out;
    }
    /* one snapshot for every table, so the figures agree with each other */
    PQclear(PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    const char *sql[5] = {CW_AGGREAD_SQL_COHORT, CW_AGGREAD_SQL_LIVE, CW_AGGREAD_SQL_WORKERS,
                          CW_AGGREAD_SQL_REPORTS, CW_AGGREAD_SQL_AREAS};
    for (int i = 0; i < 5; i++)
        if (!(res[i] = query(conn, sql[i])))
            goto out;
    cw_aggread_cohort(r, res[0]);
    cw_aggread_live(r, res[1]);
    cw_aggread_workers(r, res[2]);
    cw_aggread_reports(r, res[3]);
    cw_aggread_areas(r, res[4]);

    cw_board_t rep;
    cw_board_compute(&rep, r, area, D, wd);
    if (json) {
        json_object *js = cw_board_json(&rep, D);
        printf("%s\n", json_object_to_json_string_ext(
                           js, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(js);
    } else {
        print_text(rep.figs, rep.nfigs, D, rep.scope, rep.prio, rep.nprio, wd);
    }
    cw_board_fini(&rep);
    rc = 0;
out:
    for (int i = 0; i < 5; i++)
        PQclear(res[i]);
    cw_aggread_destroy(r);
    PQfinish(conn);
    cw_workdays_destroy(wd);
    cw_config_free(cfg);
    return rc;
}
