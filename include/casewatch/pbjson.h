/*
 * pbjson.h — any protobuf-c message as a json-c object, by walking its descriptor (pure).
 *
 * Used by the admin API to show stored case state (casewatch.v1.CaseState). Field names are
 * the .proto names; proto3 fields at their default (0, false, "", empty) are left out, as
 * the protobuf JSON mapping does; enums are their value names; 64-bit integers are JSON
 * integers; bytes are lower-case hex.
 */
#ifndef CASEWATCH_PBJSON_H
#define CASEWATCH_PBJSON_H

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

/** @brief A new JSON object for m (caller json_object_put()s it). */
json_object *cw_pb_to_json(const ProtobufCMessage *m);

/** @brief UTC ms as "YYYY-MM-DDTHH:MM:SS.mmmZ"; 0 (never) as JSON null (NULL). */
json_object *cw_json_time(int64_t ms);
/** @brief The same text into buf (at least 32 bytes); "" for 0. */
const char *cw_iso_time(int64_t ms, char *buf, size_t bufsz);

#endif
