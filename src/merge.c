/*
 * merge.c — which of a partition's lanes is applied next ([L]): see merge.h.
 */
#include "casewatch/merge.h"

int cw_merge_next(const int64_t *head, const bool *open, int n)
{
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (head[i] == CW_MERGE_NOW)
            return i; /* a dead letter moves no clock: nothing to wait for */
        if (head[i] == CW_MERGE_EMPTY) {
            if (open[i])
                best = -2; /* its next item may be the earliest: wait (unless timeless) */
            continue;
        }
        if (best == -1 || (best >= 0 && head[i] < head[best]))
            best = i;
    }
    return best < 0 ? -1 : best;
}
