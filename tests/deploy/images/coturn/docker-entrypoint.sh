#!/bin/bash
# Stand-in for coturn's docker-entrypoint.sh (coturn/coturn docker/coturn/rootfs, read at
# docker/4.7.0-r4), written for firmground's tests: a first argument starting with '-' gets turnserver
# prepended, and every argument is expanded by eval, as upstream does.
if [ "${1:0:1}" == '-' ]; then
	set -- turnserver "$@"
fi
expanded=()
for i in "$@"; do
	expanded+=("$(eval "echo $i")")
done
exec "${expanded[@]}"
