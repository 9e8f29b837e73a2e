#!/bin/sh
# Stand-in for the nginx image's 20-envsubst-on-templates.sh as element-web uses it: the site template
# rendered with ELEMENT_WEB_PORT (the only variable it holds) into conf.d.
set -e
sed "s/\${ELEMENT_WEB_PORT}/${ELEMENT_WEB_PORT}/g" /etc/nginx/templates/default.conf.template > /etc/nginx/conf.d/default.conf
