/*
 * casewatch-dryrun — try rules before deploying them: replay a recorded event log through the
 * same case state, rules and alert lifecycle as casewatchd, on the event clock, and print
 * every alert notification, one line each (or JSON lines), stamped as casewatchd stamps it.
 * Time is casewatchd's ([L]): the log's events are mapped to topic-partitions as casewatch-gen
 * publishes them (hearing_* events to the hearing topic, the rest to the case topic, partition
 * = the producers' partitioner of case_id, or court_area for area events, modulo
 * --partitions), each topic-partition keeping the log's order; a partition's events are
 * applied in the merge order casewatchd applies them in (cw_merge_next(): the earliest head
 * among its topic-partitions, ties to the case topic), and its clock is its stream time (the
 * newest occurred_at applied from it) less the lateness, advancing per event. So its
 * transitions are the daemon's over the same log, whatever the daemon's batching, fetching or
 * pacing. Deterministic: the same log and rules give byte-identical output. Reads only the log
 * and the rules file; writes stdout.
 */
#include "casewatch/alerts.h"
#include "casewatch/event.h"
#include "casewatch/merge.h"
#include "casewatch/partmap.h"
#include "casewatch/watch.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: casewatch-dryrun --log FILE [--rules FILE] [--lateness-ms N]\n"
               "                        [--partitions N] [--partitioner NAME]\n"
               "                        [--until YYYY-MM-DD] [--holidays FILE] [--json]\n"
               "  --log FILE        length-delimited casewatch.v1.Event messages (casewatch-gen\n"
               "                    --out-file writes them)\n"
               "  --rules FILE      rules to try: [rule.NAME] sections (default: the defaults)\n"
               "  --lateness-ms N   the event clock trails the newest event by N ms (60000)\n"
               "  --partitions N    partitions of each input topic, as the daemon's (8)\n"
               "  --partitioner P   the producers' partitioner (consistent_random)\n"
               "  --until DATE      after the log, let the clock run on to this day's end\n"
               "  --json            one JSON object per alert instead of a text line\n");
}

/* Per-partition time, as casewatchd keeps it: a stream time and a deadline heap per
 * partition. */
typedef struct dry_time {
    int nparts;
    int64_t lateness;
    int64_t *stream;  /* [nparts] newest occurred_at applied to the partition */
    cw_deadlines_t **heap;
    int64_t until;    /* > 0: after the log, every clock is this */
} dry_time_t;

static int topic_of(int kind)
{
    return kind == CASEWATCH__V1__EVENT__PAYLOAD_HEARING_LISTED ||
                   kind == CASEWATCH__V1__EVENT__PAYLOAD_HEARING_HELD ||
                   kind == CASEWATCH__V1__EVENT__PAYLOAD_HEARING_ADJOURNED
               ? 1
               : 0;
}

static int32_t partition_of(const Casewatch__V1__Event *e, cw_partitioner_t part, int n)
{
    const char *key = e->case_id;
    if (cw_event_kind_is_area(e->payload_case))
        key = e->payload_case == CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_ACTIVATED
                  ? e->prioritisation_activated->court_area
                  : e->prioritisation_deactivated->court_area;
    int32_t p = cw_partmap_partition(part, key, key ? strlen(key) : 0, n);
    return p < 0 ? 0 : p;
}

static cw_deadlines_t *dry_heap(void *arg, int32_t partition)
{
    dry_time_t *t = arg;
    return t->heap[partition >= 0 && partition < t->nparts ? partition : 0];
}

static void dry_clock(void *arg, int32_t partition, cw_eval_time_t *out)
{
    dry_time_t *t = arg;
    out->live = true;
    if (t->until) {
        out->now = t->until;
        return;
    }
    int64_t st = partition >= 0 && partition < t->nparts ? t->stream[partition] : 0;
    out->now = st > t->lateness ? st - t->lateness : 0;
}

/* One topic-partition of the log: its valid events' places in the log buffer, in log order. */
typedef struct lane {
    size_t *at, *len;
    int64_t *occurred;
    size_t n, cap, next;
} lane_t;

static void lane_add(lane_t *l, size_t at, size_t len, int64_t occurred)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->at = cw_realloc(l->at, sizeof(size_t) * l->cap);
        l->len = cw_realloc(l->len, sizeof(size_t) * l->cap);
        l->occurred = cw_realloc(l->occurred, sizeof(int64_t) * l->cap);
    }
    l->at[l->n] = at;
    l->len[l->n] = len;
    l->occurred[l->n++] = occurred;
}

static bool read_varint(const uint8_t *b, size_t n, size_t *pos, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *pos < n; shift += 7) {
        uint8_t c = b[(*pos)++];
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return true;
    }
    return false;
}

typedef struct seen_set {
    char **ids;
    size_t cap, n;
} seen_set_t;

static bool seen_add(seen_set_t *s, const char *id)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1 << 16;
        char **n = cw_calloc(ncap, sizeof(char *));
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->ids[i])
                continue;
            size_t j = cw_casebook_hash(s->ids[i]) & (ncap - 1);
            while (n[j])
                j = (j + 1) & (ncap - 1);
            n[j] = s->ids[i];
        }
        free(s->ids);
        s->ids = n;
        s->cap = ncap;
    }
    size_t j = cw_casebook_hash(id) & (s->cap - 1);
    while (s->ids[j]) {
        if (!strcmp(s->ids[j], id))
            return false;
        j = (j + 1) & (s->cap - 1);
    }
    s->ids[j] = cw_strdup(id);
    s->n++;
    return true;
}

static void print_transitions(cw_alerts_t *alerts, const cw_rules_t *rules, bool json,
                              uint64_t *counts)
{
    size_t n;
    const cw_transition_t *t = cw_alerts_transitions(alerts, &n);
    for (size_t i = 0; i < n; i++) {
        if (!t[i].notify)
            continue;
        const cw_alert_t *x = &t[i].alert;
        counts[x->rule]++;
        if (json) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "alert_id", json_object_new_string(t[i].alert_id));
            json_object_object_add(o, "at", json_object_new_int64(t[i].at));
            json_object_object_add(o, "rule", json_object_new_string(rules->rule[x->rule].name));
            json_object_object_add(o, "state", json_object_new_string(
                                                   t[i].repeat ? "firing"
                                                               : cw_alert_state_name(x->state)));
            json_object_object_add(o, "resolution",
                                   json_object_new_string(cw_resolution_name(x->resolution)));
            if (x->close_outcome)
                json_object_object_add(
                    o, "close_outcome",
                    json_object_new_string(cw_close_outcome_name(x->close_outcome)));
            json_object_object_add(o, "severity",
                                   json_object_new_string(cw_severity_name(x->severity)));
            json_object_object_add(o, "dedup_key", json_object_new_string(x->dedup_key));
            json_object_object_add(o, "due_at", json_object_new_int64(x->due_ms));
            json_object_object_add(o, "cause_event_id",
                                   json_object_new_string(x->cause_event_id));
            json_object_object_add(o, "repeat", json_object_new_boolean(t[i].repeat));
            json_object_object_add(o, "historic", json_object_new_boolean(t[i].historic));
            printf("%s\n", json_object_to_json_string_ext(
                               o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
            json_object_put(o);
        } else {
            char line[512];
            cw_alerts_format(&t[i], rules, line, sizeof(line));
            printf("%s %s\n", t[i].alert_id, line);
        }
    }
    cw_alerts_clear_transitions(alerts);
}

int main(int argc, char **argv)
{
    const char *log = NULL, *rules_path = NULL, *until = NULL, *holidays = NULL;
    long long lateness = 60000;
    int nparts = 8;
    const char *partitioner = "consistent_random";
    bool json = false;
    static const struct option opts[] = {{"log", required_argument, NULL, 'l'},
                                         {"rules", required_argument, NULL, 'r'},
                                         {"lateness-ms", required_argument, NULL, 'L'},
                                         {"until", required_argument, NULL, 'u'},
                                         {"partitions", required_argument, NULL, 'P'},
                                         {"partitioner", required_argument, NULL, 'p'},
                                         {"holidays", required_argument, NULL, 'H'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'l': log = optarg; break;
        case 'r': rules_path = optarg; break;
        case 'L': lateness = atoll(optarg); break;
        case 'u': until = optarg; break;
        case 'P': nparts = atoi(optarg); break;
        case 'p': partitioner = optarg; break;
        case 'H': holidays = optarg; break;
        case 'j': json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    cw_partitioner_t part;
    if (!log || lateness < 0 || nparts < 1 || nparts > 100000 ||
        !cw_partmap_parse(partitioner, &part)) {
        usage(stderr);
        return 2;
    }
    char err[8192];
    cw_casebook_t *book = cw_casebook_new();
    cw_rules_t *rules = rules_path ? cw_rules_load(rules_path, book, err, sizeof(err))
                                   : cw_rules_defaults();
    if (!rules) {
        fprintf(stderr, "casewatch-dryrun: invalid rules:\n%s\n", err);
        cw_casebook_destroy(book);
        return 2;
    }
    cw_workdays_t *wd = cw_workdays_new();
    if (holidays && cw_workdays_load_file(wd, holidays, err, sizeof(err)) != CW_OK) {
        fprintf(stderr, "casewatch-dryrun: %s\n", err);
        return 2;
    }
    cw_day_t until_day = 0;
    if (until && cw_day_parse(until, &until_day) != CW_OK) {
        fprintf(stderr, "casewatch-dryrun: --until: expected YYYY-MM-DD\n");
        return 2;
    }
    FILE *f = fopen(log, "rb");
    if (!f) {
        fprintf(stderr, "casewatch-dryrun: %s: cannot open\n", log);
        return 2;
    }
    uint8_t *buf = NULL;
    size_t size = 0, cap = 0, got;
    do {
        if (size == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            buf = cw_realloc(buf, cap);
        }
        got = fread(buf + size, 1, cap - size, f);
        size += got;
    } while (got);
    fclose(f);
    cw_alerts_t *alerts = cw_alerts_new();
    cw_deadlines_t *dl = cw_deadlines_new();
    dry_time_t dt = {.nparts = nparts, .lateness = lateness};
    dt.stream = cw_calloc((size_t)nparts, sizeof(int64_t));
    dt.heap = cw_calloc((size_t)nparts, sizeof(cw_deadlines_t *));
    for (int i = 0; i < nparts; i++)
        dt.heap[i] = cw_deadlines_new();
    cw_watch_time_t wt = {dry_heap, dry_clock, &dt};
    cw_watch_t w = {book, rules, alerts, dl, wd, &wt};
    seen_set_t seen = {0};
    uint64_t counts[CW_RULE__COUNT] = {0}, applied = 0, rejected = 0, duplicates = 0;
    int64_t now_wall = cw_now_ms();
    /* the log into its topic-partitions (lane = partition * 2 + topic: a partition's case
     * topic first, as in the daemon's [topics] events), invalid messages set aside as the
     * daemon's dead letters are (they move no clock) */
    int nlanes = 2 * nparts;
    lane_t *lanes = cw_calloc((size_t)nlanes, sizeof(lane_t));
    size_t pos = 0;
    uint64_t len;
    while (pos < size && read_varint(buf, size, &pos, &len) && len <= size - pos) {
        cw_event_t ev;
        if (cw_event_decode(buf + pos, len, 0, now_wall, &ev, NULL, 0) != CW_REJECT_NONE) {
            rejected++;
        } else {
            lane_add(&lanes[partition_of(ev.pb, part, nparts) * 2 + topic_of(ev.kind)], pos,
                     len, ev.pb->occurred_at);
            cw_event_fini(&ev);
        }
        pos += len;
    }
    int64_t *head = cw_malloc(sizeof(int64_t) * (size_t)nlanes);
    bool *open = cw_calloc((size_t)nlanes, sizeof(bool)); /* the whole log is here */
    for (;;) {
        for (int i = 0; i < nlanes; i++)
            head[i] = lanes[i].next < lanes[i].n ? lanes[i].occurred[lanes[i].next]
                                                 : CW_MERGE_EMPTY;
        /* the earliest head of all: within each partition, the daemon's merge order */
        int li = cw_merge_next(head, open, nlanes);
        if (li < 0)
            break;
        lane_t *l = &lanes[li];
        size_t at = l->at[l->next], n = l->len[l->next];
        l->next++;
        cw_event_t ev;
        if (cw_event_decode(buf + at, n, 0, now_wall, &ev, NULL, 0) != CW_REJECT_NONE)
            continue; /* cannot happen: it decoded above */
        if (!seen_add(&seen, ev.pb->event_id)) {
            duplicates++;
            cw_event_fini(&ev);
            continue;
        }
        /* as the daemon: the partition's deadlines its clock passed, then the event, then
         * its case at the partition's clock with its own time and the clock before it */
        int32_t pn = li / 2;
        cw_eval_time_t before;
        dry_clock(&dt, pn, &before);
        cw_watch_tick_partition(&w, pn, SIZE_MAX);
        print_transitions(alerts, rules, json, counts);
        cw_case_t *c = cw_casebook_apply(book, &ev, pn, NULL, NULL, NULL);
        if (ev.pb->occurred_at > dt.stream[pn])
            dt.stream[pn] = ev.pb->occurred_at;
        cw_cause_t cause = {ev.pb->event_id, "log", pn, (int64_t)applied};
        if (c) {
            cw_casebook_set_last_event(book, c, ev.pb->event_id, "log", (int64_t)applied,
                                       before.now);
            cw_eval_time_t t = {.occurred_ms = ev.pb->occurred_at, .seen_ms = before.now};
            cw_watch_evaluate_timed(&w, c->hash, &t, &cause);
        } else {
            uint32_t area = cw_casebook_event_area(book, &ev);
            if (area)
                cw_watch_evaluate_area(&w, area, &cause, ev.pb->occurred_at);
        }
        print_transitions(alerts, rules, json, counts);
        cw_event_fini(&ev);
        applied++;
    }
    for (int i = 0; i < nlanes; i++) {
        free(lanes[i].at);
        free(lanes[i].len);
        free(lanes[i].occurred);
    }
    free(lanes);
    free(head);
    free(open);
    for (int i = 0; i < nparts; i++)
        cw_watch_tick_partition(&w, i, SIZE_MAX);
    print_transitions(alerts, rules, json, counts);
    if (until) { /* the clock runs on with no more events: absence rules keep firing */
        int64_t end = cw_day_to_ms(until_day + 1);
        for (;;) {
            int64_t next = INT64_MAX;
            for (int i = 0; i < nparts; i++) {
                int64_t d = cw_deadlines_next(dt.heap[i]);
                next = d < next ? d : next;
            }
            if (next > end)
                next = end;
            dt.until = next;
            for (int i = 0; i < nparts; i++)
                cw_watch_tick_partition(&w, i, SIZE_MAX);
            print_transitions(alerts, rules, json, counts);
            if (next >= end)
                break;
        }
    }
    fprintf(stderr, "casewatch-dryrun: %llu events applied, %llu duplicates, %llu rejected; "
                    "%zu alerts firing at the end\n",
            (unsigned long long)applied, (unsigned long long)duplicates,
            (unsigned long long)rejected, cw_alerts_count(alerts, CW_ALERT_FIRING));
    for (int i = 0; i < CW_RULE__COUNT; i++)
        if (counts[i])
            fprintf(stderr, "  %-48s %llu notification(s)\n", rules->rule[i].name,
                    (unsigned long long)counts[i]);
    for (size_t i = 0; i < seen.cap; i++)
        free(seen.ids[i]);
    free(seen.ids);
    free(buf);
    cw_alerts_destroy(alerts);
    cw_deadlines_destroy(dl);
    for (int i = 0; i < nparts; i++)
        cw_deadlines_destroy(dt.heap[i]);
    free(dt.heap);
    free(dt.stream);
    cw_rules_free(rules);
    cw_workdays_destroy(wd);
    cw_casebook_destroy(book);
    return 0;
}
