#!/bin/sh
# Stand-in for the haproxy image's docker-entrypoint.sh (docker-library/haproxy 3.2/alpine, read at
# 1721188a), written for firmground's tests: the same argument rules.
set -e
if [ "${1#-}" != "$1" ]; then
	set -- haproxy "$@"
fi
if [ "$1" = 'haproxy' ]; then
	shift
	set -- haproxy -W -db "$@"
fi
exec "$@"
