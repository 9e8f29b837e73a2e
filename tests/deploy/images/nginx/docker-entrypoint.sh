#!/bin/sh
# Stand-in for the nginx image's /docker-entrypoint.sh (nginx/docker-nginx, read at tag 1.28.0),
# written for firmground's tests: for nginx (or nginx-debug) it first runs /docker-entrypoint.d/*.sh,
# then execs its arguments.
set -e
if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
	for f in $(find /docker-entrypoint.d/ -follow -type f -name '*.sh' 2>/dev/null | sort -V); do
		if [ -x "$f" ]; then
			echo "$0: running $f"
			"$f"
		fi
	done
fi
exec "$@"
