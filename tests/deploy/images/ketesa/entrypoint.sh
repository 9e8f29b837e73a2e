#!/bin/sh
# Stand-in for static-web-server's entrypoint.sh (docker/alpine, read at v2.43.0).
set -e
if [ "${1#-}" != "$1" ]; then
	set -- static-web-server "$@"
fi
exec "$@"
