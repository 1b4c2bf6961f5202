/*
 * test_metrics.c — CUnit suite for the pure parts of the admin API: histograms and the
 * Prometheus text format, the /metrics rendering, librdkafka statistics, protobuf → JSON,
 * ISO times and the alert notification JSON.
 */
#include "casewatch/alertjson.h"
#include "casewatch/alerts.h"
#include "casewatch/kstats.h"
#include "casewatch/metrics.h"
#include "casewatch/pbjson.h"
#include "casewatch/v1/state.pb-c.h"

#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_histogram(void)
{
    static const double b[] = {1, 10, 100};
    cw_histo_t h;
    cw_histo_init(&h, b, 3);
    double v[] = {0.5, 1, 5, 10, 11, 1000};
    for (int i = 0; i < 6; i++)
        cw_histo_observe(&h, v[i]);
    CU_ASSERT_EQUAL(h.counts[0], 2); /* le 1: 0.5 and 1 (upper bounds are inclusive) */
    CU_ASSERT_EQUAL(h.counts[1], 2); /* le 10 */
    CU_ASSERT_EQUAL(h.counts[2], 1); /* le 100 */
    CU_ASSERT_EQUAL(h.counts[3], 1); /* +Inf */
    CU_ASSERT_EQUAL(h.count, 6);
    cw_prom_t p;
    cw_prom_init(&p);
    cw_prom_histo(&p, "x", &h);
    char *s = cw_prom_finish(&p, NULL);
    CU_ASSERT_STRING_EQUAL(s, "x_bucket{le=\"1\"} 2\n"
                              "x_bucket{le=\"10\"} 4\n"
                              "x_bucket{le=\"100\"} 5\n"
                              "x_bucket{le=\"+Inf\"} 6\n"
                              "x_sum 1027.5\n"
                              "x_count 6\n");
    free(s);
}

static void test_samples_escaped(void)
{
    cw_prom_t p;
    cw_prom_init(&p);
    cw_prom_family(&p, "m", "gauge", "Help text.");
    const char *lb[] = {"a", "x\"y\\z\nw", "b", NULL};
    cw_prom_sample(&p, "m", lb, 2, 1.5);
    cw_prom_sample(&p, "m", NULL, 0, NAN);
    cw_prom_sample(&p, "m", NULL, 0, -INFINITY);
    cw_prom_sample(&p, "m", NULL, 0, 12345678901.0);
    size_t len;
    char *s = cw_prom_finish(&p, &len);
    CU_ASSERT_STRING_EQUAL(s, "# HELP m Help text.\n# TYPE m gauge\n"
                              "m{a=\"x\\\"y\\\\z\\nw\",b=\"\"} 1.5\n"
                              "m NaN\nm -Inf\nm 12345678901\n");
    CU_ASSERT_EQUAL(len, strlen(s));
    free(s);
    /* large output grows the buffer */
    cw_prom_init(&p);
    for (int i = 0; i < 5000; i++)
        cw_prom_sample(&p, "a_rather_long_metric_name_for_growth", NULL, 0, i);
    s = cw_prom_finish(&p, &len);
    CU_ASSERT(len > 5000 * 30);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "a_rather_long_metric_name_for_growth 4999\n"));
    free(s);
}

static void test_render(void)
{
    static const double b[] = {1, 10};
    cw_histo_t h;
    cw_histo_init(&h, b, 2);
    cw_histo_observe(&h, 3);
    uint64_t dead[3] = {0, 4, 0}, kinds[3] = {7, 0, 2};
    const char *reasons[3] = {"none", "too_large", "undecodable"};
    const char *kn[3] = {"case_opened", "allocated", NULL};
    cw_metrics_part_t parts[2] = {{"t", 0, 10, 15}, {"t", 1, 3, -1}};
    cw_metrics_alerts_t al[1] = {{"child_not_seen", "safeguarding", "critical", "firing", 2}};
    cw_metrics_in_t in = {.consumed = 9,
                          .dead_by_reason = dead,
                          .reason_names = reasons,
                          .nreasons = 3,
                          .applied_by_kind = kinds,
                          .kind_names = kn,
                          .nkinds = 3,
                          .batch_events = &h,
                          .commit_seconds = &h,
                          .parts = parts,
                          .nparts = 2,
                          .alerts = al,
                          .nalerts = 1,
                          .reloads_ok = 2,
                          .reloads_failed = 1,
                          .db_up = true,
                          .version = "9.9"};
    size_t len;
    char *s = cw_metrics_render(&in, &len);
    const char *want[] = {"casewatch_build_info{version=\"9.9\"} 1\n",
                          "casewatch_messages_consumed_total 9\n",
                          "casewatch_events_applied_total{kind=\"case_opened\"} 7\n",
                          "casewatch_dead_letters_total{reason=\"too_large\"} 4\n",
                          "casewatch_dead_letters_total{reason=\"undecodable\"} 0\n",
                          "casewatch_batch_events_bucket{le=\"10\"} 1\n",
                          "casewatch_commit_seconds_count 1\n",
                          "casewatch_partition_committed_offset{topic=\"t\",partition=\"1\"} 3\n",
                          "casewatch_consumer_lag_messages{topic=\"t\",partition=\"0\"} 5\n",
                          "casewatch_alerts{rule=\"child_not_seen\",family=\"safeguarding\","
                          "severity=\"critical\",state=\"firing\"} 2\n",
                          "casewatch_reloads_total{outcome=\"success\"} 2\n",
                          "casewatch_reloads_total{outcome=\"failure\"} 1\n",
                          "casewatch_postgres_up 1\n",
                          NULL};
    for (int i = 0; want[i]; i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(s, want[i]));
    /* a kind with no name, a zero count, a partition without a known log end: left out */
    CU_ASSERT_PTR_NULL(strstr(s, "kind=\"allocated\""));
    CU_ASSERT_PTR_NULL(strstr(s, "casewatch_consumer_lag_messages{topic=\"t\",partition=\"1\"}"));
    CU_ASSERT_PTR_NULL(strstr(s, "reason=\"none\""));
    /* every family is declared once, before its samples */
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE casewatch_alerts gauge\n"));
    CU_ASSERT(strstr(s, "# TYPE casewatch_alerts gauge") < strstr(s, "casewatch_alerts{"));
    free(s);
}

typedef struct seen {
    char topic[64];
    int32_t part;
    int64_t hi, ls;
    int n;
} seen_t;

static void on_part(void *arg, const char *topic, int32_t partition, int64_t hi, int64_t ls)
{
    seen_t *s = arg;
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    s->part = partition;
    s->hi = hi;
    s->ls = ls;
    s->n++;
}

static void test_kafka_statistics(void)
{
    const char *json =
        "{\"name\":\"casewatchd#consumer-1\",\"type\":\"consumer\",\"topics\":{"
        "\"casewatch.case-events\":{\"topic\":\"casewatch.case-events\",\"partitions\":{"
        "\"3\":{\"partition\":3,\"hi_offset\":1200,\"ls_offset\":1190,\"app_offset\":900},"
        "\"-1\":{\"partition\":-1,\"hi_offset\":-1001}}}}}";
    seen_t s = {0};
    CU_ASSERT_EQUAL(cw_kstats_partitions(json, strlen(json), on_part, &s), 1);
    CU_ASSERT_STRING_EQUAL(s.topic, "casewatch.case-events");
    CU_ASSERT_EQUAL(s.part, 3);
    CU_ASSERT_EQUAL(s.hi, 1200);
    CU_ASSERT_EQUAL(s.ls, 1190);
    const char *bad[] = {"", "{", "[]", "{\"topics\":[]}", "{\"topics\":{\"t\":{}}}", NULL};
    for (int i = 0; bad[i]; i++) {
        seen_t z = {0};
        int n = cw_kstats_partitions(bad[i], strlen(bad[i]), on_part, &z);
        CU_ASSERT(n <= 0);
        CU_ASSERT_EQUAL(z.n, 0);
    }
}

static void test_pb_json_and_times(void)
{
    Casewatch__V1__CaseState st = CASEWATCH__V1__CASE_STATE__INIT;
    Casewatch__V1__ChildState ch = CASEWATCH__V1__CHILD_STATE__INIT;
    Casewatch__V1__ChildState *chs[1] = {&ch};
    Casewatch__V1__Stamp stamp = CASEWATCH__V1__STAMP__INIT;
    st.opened = true;
    st.court_area = "essex";
    st.service_area = ""; /* default: left out */
    st.start_ms = 1704672000000LL;
    stamp.hash = UINT64_MAX;
    st.opened_stamp = &stamp;
    ch.child_id = "k1";
    ch.member = true;
    st.n_children = 1;
    st.children = chs;
    json_object *o = cw_pb_to_json(&st.base);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"opened\":true"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"court_area\":\"essex\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"start_ms\":1704672000000"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"opened_stamp\":{\"hash\":18446744073709551615}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"children\":[{\"child_id\":\"k1\",\"member\":true}]"));
    CU_ASSERT_PTR_NULL(strstr(s, "service_area"));
    CU_ASSERT_PTR_NULL(strstr(s, "team"));
    json_object_put(o);

    char buf[48];
    CU_ASSERT_STRING_EQUAL(cw_iso_time(1704672000123LL, buf, sizeof(buf)),
                           "2024-01-08T00:00:00.123Z");
    CU_ASSERT_STRING_EQUAL(cw_iso_time(-1, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z");
    CU_ASSERT_STRING_EQUAL(cw_iso_time(0, buf, sizeof(buf)), "");
    CU_ASSERT_PTR_NULL(cw_json_time(0));
    json_object *t = cw_json_time(1704672000000LL);
    CU_ASSERT_STRING_EQUAL(json_object_get_string(t), "2024-01-08T00:00:00.000Z");
    json_object_put(t);
}

static void test_transition_json(void)
{
    cw_rules_t *r = cw_rules_defaults();
    cw_transition_t t = {.from = CW_ALERT_PENDING, .at = 1704672000000LL, .alert_id = "a1b2"};
    cw_alert_t *x = &t.alert;
    x->dedup_key = "child_not_seen|A/1|k1";
    x->rule = CW_RULE_CHILD_NOT_SEEN;
    x->state = CW_ALERT_FIRING;
    x->severity = CW_SEV_CRITICAL;
    x->case_id = "A/1";
    x->subject = "k1";
    x->area = "essex";
    x->worker = "";
    x->firing_ms = 1704672000000LL;
    char *s = cw_alertjson_transition(&t, r);
    json_object *o = json_tokener_parse(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_object_get(o, "rule")),
                           "child_not_seen");
    CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_object_get(o, "family")),
                           "safeguarding");
    CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_object_get(o, "from")), "pending");
    CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_object_get(o, "state")), "firing");
    CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_object_get(o, "firing_at")),
                           "2024-01-08T00:00:00.000Z");
    CU_ASSERT(json_object_is_type(json_object_object_get(o, "worker_id"), json_type_null));
    CU_ASSERT(json_object_is_type(json_object_object_get(o, "resolved_at"), json_type_null));
    CU_ASSERT_PTR_NOT_NULL(strstr(json_object_get_string(json_object_object_get(o, "text")),
                                  "child_not_seen case=A/1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"case_id\":\"A/1\"")); /* slashes not escaped */
    json_object_put(o);
    free(s);
    cw_rules_free(r);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("metrics", NULL, NULL);
    CU_add_test(s, "histogram buckets are cumulative in the text", test_histogram);
    CU_add_test(s, "label values escaped, NaN and infinities", test_samples_escaped);
    CU_add_test(s, "/metrics rendering", test_render);
    CU_add_test(s, "librdkafka statistics: log ends per partition", test_kafka_statistics);
    CU_add_test(s, "protobuf as JSON, ISO times", test_pb_json_and_times);
    CU_add_test(s, "alert notification JSON", test_transition_json);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
