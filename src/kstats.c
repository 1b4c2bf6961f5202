/*
 * kstats.c — read per-partition log ends out of librdkafka's statistics JSON (pure).
 *
 * librdkafka emits {"topics": {T: {"partitions": {"N": {"partition": N, "hi_offset": H,
 * "ls_offset": L, …}}}}} every statistics.interval.ms; partition -1 is its internal
 * "unassigned" bucket and is skipped. Owns nothing beyond the parse of one document.
 */
#include "casewatch/kstats.h"

#include <json-c/json.h>

static int64_t get_i64(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return -1;
    return json_object_get_int64(v);
}

int cw_kstats_partitions(const char *json, size_t len, cw_kstats_fn fn, void *arg)
{
    json_tokener *tok = json_tokener_new();
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    json_tokener_free(tok);
    json_object *topics;
    if (!root || !json_object_object_get_ex(root, "topics", &topics) ||
        !json_object_is_type(topics, json_type_object)) {
        json_object_put(root);
        return -1;
    }
    int n = 0;
    json_object_object_foreach(topics, tname, t)
    {
        json_object *parts;
        if (!json_object_object_get_ex(t, "partitions", &parts) ||
            !json_object_is_type(parts, json_type_object))
            continue;
        json_object_object_foreach(parts, pname, pobj)
        {
            (void)pname;
            int64_t part = get_i64(pobj, "partition");
            if (part < 0 || part > INT32_MAX)
                continue;
            fn(arg, tname, (int32_t)part, get_i64(pobj, "hi_offset"), get_i64(pobj, "ls_offset"));
            n++;
        }
    }
    json_object_put(root);
    return n;
}
