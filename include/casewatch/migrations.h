/*
 * migrations.h — the SQL migrations compiled into the binary (generated from deploy/sql/).
 *
 * Forward-only and numbered: NNN_name.sql. The store applies the missing ones at startup in
 * order and records each in schema_migrations; a database whose highest version is above the
 * last entry here was migrated by a newer casewatch, and startup stops.
 */
#ifndef CASEWATCH_MIGRATIONS_H
#define CASEWATCH_MIGRATIONS_H

typedef struct cw_migration {
    int version;      /**< NNN from the file name */
    const char *name; /**< the file name */
    const char *sql;  /**< the whole file */
} cw_migration_t;

/** Sorted by version, ascending. */
extern const cw_migration_t cw_migrations[];
extern const int cw_migrations_count;

#endif
