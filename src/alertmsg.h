/*
 * alertmsg.h — alertmsg.c's functions, for the pipeline's modules (not installed).
 */
#ifndef CASEWATCH_ALERTMSG_H
#define CASEWATCH_ALERTMSG_H

#include "pipeline_int.h"

uint8_t *cw_alertmsg_pack(const cw_rules_t *rules, const cw_transition_t *t, bool historic,
                          size_t *len);

#endif
