#!/bin/sh
# The entry point of the Digitale Balie image (trytond, portal, cron, worker).
#
# 1. waits until PostgreSQL answers (BALIE_DATABASE_WAIT seconds, 60);
# 2. only when asked (BALIE_DATABASE_INIT=1) and only when the database
#    BALIE_DATABASE does not have the four modules activated yet: creates
#    it if needed and runs trytond-admin --all, activating the modules,
#    with the admin password from BALIE_ADMIN_PASSWORD (TRYTONPASSFILE);
#    a first start that failed half-way is finished on the next one;
# 3. runs the service's command (exec, so it gets the signals).
#
# It installs and downloads nothing: everything is in the image.
set -eu

here=$(dirname "$0")
db_tool="python $here/balie_db.py"
modules="digitale_balie balie_video balie_sign balie_survey"

log() {
    echo "balie-entrypoint: $*" >&2
}

if [ "${BALIE_DATABASE_WAIT:-60}" != 0 ]; then
    if ! $db_tool wait "${BALIE_DATABASE_WAIT:-60}"; then
        log "PostgreSQL did not answer within ${BALIE_DATABASE_WAIT:-60} s"
        exit 1
    fi
fi

if [ "${BALIE_DATABASE_INIT:-0}" = 1 ]; then
    database=${BALIE_DATABASE:?BALIE_DATABASE names the database to create}
    if $db_tool ready "$database"; then
        log "database $database is ready: nothing to create" \
            "(upgrades: trytond-admin -d $database --all)"
    else
        if [ -z "${BALIE_ADMIN_PASSWORD:-}" ]; then
            log "BALIE_ADMIN_PASSWORD is needed to create $database"
            exit 1
        fi
        if ! $db_tool exists "$database"; then
            log "creating database $database"
            $db_tool create "$database"
        fi
        passfile=$(mktemp)
        trap 'rm -f "$passfile"' EXIT
        printf '%s\n' "$BALIE_ADMIN_PASSWORD" > "$passfile"
        # without --email trytond-admin asks for the admin's e-mail
        # address; the empty line on its input answers "none"
        # shellcheck disable=SC2086
        if [ -n "${BALIE_ADMIN_EMAIL:-}" ]; then
            TRYTONPASSFILE=$passfile trytond-admin -d "$database" --all \
                -u $modules --activate-dependencies -l nl fr \
                --email "$BALIE_ADMIN_EMAIL" < /dev/null
        else
            printf '\n' | TRYTONPASSFILE=$passfile trytond-admin \
                -d "$database" --all -u $modules --activate-dependencies \
                -l nl fr
        fi
        rm -f "$passfile"
        trap - EXIT
        log "database $database ready with $modules"
    fi
fi

exec "$@"
