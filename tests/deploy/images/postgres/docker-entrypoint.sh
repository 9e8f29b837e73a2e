#!/bin/bash
# Stand-in for the postgres image's docker-entrypoint.sh (docker-library/postgres 17/alpine3.22, read
# at 5ec89312), written for firmground's tests: the same argument rules, privilege drop and first-run
# initialisation from POSTGRES_* (and *_FILE). See tests/support/imageContracts.ts.
set -Eeo pipefail

# X or X_FILE, never both.
file_env() {
	local var="$1" fileVar="${1}_FILE" def="${2:-}"
	if [ "${!var:-}" ] && [ "${!fileVar:-}" ]; then
		echo >&2 "error: both $var and $fileVar are set (but are exclusive)"
		exit 1
	fi
	local val="$def"
	if [ "${!var:-}" ]; then
		val="${!var}"
	elif [ "${!fileVar:-}" ]; then
		val="$(< "${!fileVar}")"
	fi
	export "$var"="$val"
	unset "$fileVar"
}

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" = 'postgres' ]; then
	if [ "$(id -u)" = '0' ]; then
		mkdir -p "$PGDATA"
		chmod 00700 "$PGDATA" || :
		chmod 03775 /var/run/postgresql || :
		find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
		exec setpriv --reuid=70 --regid=70 --clear-groups "${BASH_SOURCE[0]}" "$@"
	fi
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	if [ ! -s "$PGDATA/PG_VERSION" ]; then
		if [ -z "$POSTGRES_PASSWORD" ]; then
			echo >&2 "error: database is uninitialized and POSTGRES_PASSWORD is not specified"
			exit 1
		fi
		# shellcheck disable=SC2086
		initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS
		printf '\nhost all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
		pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
		if [ "$POSTGRES_DB" != 'postgres' ]; then
			# psql interpolates :"db" in what it reads, not in -c.
			echo 'CREATE DATABASE :"db";' | psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password \
				--dbname postgres --set db="$POSTGRES_DB" >/dev/null
		fi
		pg_ctl -D "$PGDATA" -m fast -w stop
		echo "PostgreSQL init process complete; ready for start up."
	fi
fi

exec "$@"
