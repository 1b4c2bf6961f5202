/*
 * casewatch-alerts — operators' hands on alerts: list and show them (with their history and
 * audit trail), acknowledge, assign, comment, and manage silences. Writes go to PostgreSQL
 * with an audit row each; casewatchd reads acknowledgements and silences back within seconds.
 * A tool: it may block. Every statement is parameterised.
 */
#include "casewatch/alertops.h"
#include "casewatch/config.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: casewatch-alerts (-c FILE | --db CONNINFO) COMMAND ...\n"
            "  list [--state S] [--family F] [--area A] [--severity S]   alerts (default: firing)\n"
            "  show KEY                                  one alert, its history and actions\n"
            "  ack KEY --by WHO [--text COMMENT]         acknowledge (stops repeat notifications)\n"
            "  unack KEY --by WHO\n"
            "  assign KEY --to WHO --by WHO\n"
            "  comment KEY --text TEXT --by WHO\n"
            "  silence --by WHO --minutes N [--rule R] [--area A] [--case C] [--severity S]\n"
            "          [--text COMMENT]                  suppress notifications; alerts are still\n"
            "                                            recorded\n"
            "  silences                                  active silences\n"
            "  expire ID --by WHO                        end a silence now\n");
}

static PGresult *run(PGconn *db, const char *sql, int n, const char *const *v, ExecStatusType want)
{
    PGresult *r = PQexecParams(db, sql, n, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != want) {
        fprintf(stderr, "casewatch-alerts: %s", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

static void print_table(PGresult *r)
{
    int nf = PQnfields(r);
    int *w = calloc((size_t)nf, sizeof(int));
    for (int c = 0; c < nf; c++) {
        w[c] = (int)strlen(PQfname(r, c));
        for (int i = 0; i < PQntuples(r); i++)
            if ((int)strlen(PQgetvalue(r, i, c)) > w[c])
                w[c] = (int)strlen(PQgetvalue(r, i, c));
    }
    for (int c = 0; c < nf; c++)
        printf("%-*s%s", w[c], PQfname(r, c), c + 1 < nf ? "  " : "\n");
    for (int i = 0; i < PQntuples(r); i++)
        for (int c = 0; c < nf; c++)
            printf("%-*s%s", w[c], PQgetvalue(r, i, c), c + 1 < nf ? "  " : "\n");
    printf("(%d row%s)\n", PQntuples(r), PQntuples(r) == 1 ? "" : "s");
    free(w);
}

/* one alert action: the change and its audit row in one statement */
static int act(PGconn *db, const char *key, const char *action, const char *by,
               const char *detail, const char *sql)
{
    if (!by || !*by) {
        fprintf(stderr, "casewatch-alerts: %s needs --by WHO (recorded in the audit trail)\n",
                action);
        return 2;
    }
    const char *v[3] = {key, by, detail};
    PGresult *r = run(db, sql, 3, v, PGRES_TUPLES_OK);
    if (!r)
        return 1;
    int found = PQntuples(r);
    PQclear(r);
    if (!found) {
        fprintf(stderr, "casewatch-alerts: no alert with key %s\n", key);
        return 1;
    }
    printf("%s: %s by %s\n", key, action, by);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cfg_path = NULL, *db = NULL, *state = "firing", *family = "", *area = "",
               *severity = "", *by = NULL, *to = NULL, *text = NULL, *rule = "", *case_id = "",
               *minutes = NULL;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"db", required_argument, NULL, 'd'},
        {"state", required_argument, NULL, 's'},  {"family", required_argument, NULL, 'f'},
        {"area", required_argument, NULL, 'a'},   {"severity", required_argument, NULL, 'v'},
        {"by", required_argument, NULL, 'b'},     {"to", required_argument, NULL, 't'},
        {"text", required_argument, NULL, 'x'},   {"rule", required_argument, NULL, 'r'},
        {"case", required_argument, NULL, 'k'},   {"minutes", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': cfg_path = optarg; break;
        case 'd': db = optarg; break;
        case 's': state = optarg; break;
        case 'f': family = optarg; break;
        case 'a': area = optarg; break;
        case 'v': severity = optarg; break;
        case 'b': by = optarg; break;
        case 't': to = optarg; break;
        case 'x': text = optarg; break;
        case 'r': rule = optarg; break;
        case 'k': case_id = optarg; break;
        case 'm': minutes = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind], *key = optind + 1 < argc ? argv[optind + 1] : NULL;
    char err[8192];
    cw_config_t *cfg = NULL;
    if (!db && cfg_path) {
        cfg = cw_config_load(cfg_path, err, sizeof(err));
        if (!cfg) {
            fprintf(stderr, "casewatch-alerts: invalid configuration:\n%s\n", err);
            return 2;
        }
        db = cfg->pg_conninfo;
    }
    if (!db) {
        usage(stderr);
        return 2;
    }
    PGconn *conn = PQconnectdb(db);
    int rc = 1;
    PGresult *r = NULL;
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "casewatch-alerts: cannot connect: %s", PQerrorMessage(conn));
        goto out;
    }
    if (!strcmp(cmd, "list")) {
        const char *v[4] = {state, family, area, severity};
        r = run(conn,
                "SELECT dedup_key, severity, family, state, coalesce(resolution, '') AS resolution,"
                " coalesce(court_area, '') AS area, to_char(coalesce(firing_at, pending_at),"
                " 'YYYY-MM-DD HH24:MI') AS since, acknowledged AS ack, coalesce(assignee, '')"
                " AS assignee, silenced FROM alerts WHERE ($1 = '' OR state = $1) AND"
                " ($2 = '' OR family = $2) AND ($3 = '' OR court_area = $3) AND"
                " ($4 = '' OR severity = $4) ORDER BY coalesce(firing_at, pending_at) LIMIT 1000",
                4, v, PGRES_TUPLES_OK);
        if (r) {
            print_table(r);
            rc = 0;
        }
    } else if (!strcmp(cmd, "show") && key) {
        const char *v[1] = {key};
        r = run(conn, "SELECT * FROM alerts WHERE dedup_key = $1", 1, v, PGRES_TUPLES_OK);
        if (r && PQntuples(r) == 1) {
            for (int c = 0; c < PQnfields(r); c++)
                printf("%-16s %s\n", PQfname(r, c), PQgetvalue(r, 0, c));
            PQclear(r);
            printf("\nhistory:\n");
            r = run(conn, CW_SQL_ALERT_HISTORY, 1, v, PGRES_TUPLES_OK);
            if (r)
                print_table(r);
            PQclear(r);
            printf("\nactions:\n");
            r = run(conn, CW_SQL_ALERT_ACTIONS, 1, v, PGRES_TUPLES_OK);
            if (r) {
                print_table(r);
                rc = 0;
            }
        } else if (r) {
            fprintf(stderr, "casewatch-alerts: no alert with key %s\n", key);
        }
    } else if (!strcmp(cmd, "ack") && key) {
        rc = act(conn, key, "acknowledge", by, text, CW_SQL_ALERT_ACK);
    } else if (!strcmp(cmd, "unack") && key) {
        rc = act(conn, key, "unacknowledge", by, text, CW_SQL_ALERT_UNACK);
    } else if (!strcmp(cmd, "assign") && key && to) {
        rc = act(conn, key, "assign", by, to, CW_SQL_ALERT_ASSIGN);
    } else if (!strcmp(cmd, "comment") && key && text) {
        rc = act(conn, key, "comment", by, text, CW_SQL_ALERT_COMMENT);
    } else if (!strcmp(cmd, "silence") && minutes && by) {
        const char *v[7] = {rule, area, case_id, severity, minutes, by, text ? text : ""};
        r = run(conn, CW_SQL_SILENCE_CREATE, 7, v, PGRES_TUPLES_OK);
        if (r) {
            printf("silence %s until %s\n", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
            rc = 0;
        }
    } else if (!strcmp(cmd, "silences")) {
        r = run(conn, CW_SQL_SILENCES_ACTIVE, 0, NULL, PGRES_TUPLES_OK);
        if (r) {
            print_table(r);
            rc = 0;
        }
    } else if (!strcmp(cmd, "expire") && key && by) {
        const char *v[2] = {key, by};
        r = run(conn, CW_SQL_SILENCE_EXPIRE, 2, v, PGRES_TUPLES_OK);
        if (r) {
            printf("silence %s: %s by %s\n", key,
                   PQntuples(r) ? "expired" : "already over (nothing changed)", by);
            rc = 0;
        }
    } else {
        usage(stderr);
        rc = 2;
    }
out:
    PQclear(r);
    PQfinish(conn);
    cw_config_free(cfg);
    return rc;
}
