#!/bin/sh
# Stand-in for element-web's docker-entrypoint.d/18-load-element-modules.sh: the config files are
# copied to /tmp/element-web-config at start (so /tmp must be writable), where the site serves them.
set -e
mkdir -p /tmp/element-web-config
cp /app/config*.json /tmp/element-web-config/
