/**
 * The certificate renewer: certbot in a loop, webroot challenges served by NGINX through HAProxy's
 * port 80, one certificate for every public hostname. Its deploy hook writes what HAProxy and coturn
 * load and asks HAProxy's master process to reload over the shared control socket, so no container
 * needs the Docker socket.
 */
import { CERTBOT, IMAGE_USERS } from "./paths";
import { quoteShell } from "./shell";

export interface CertbotInput {
  /** Every public hostname the certificate covers; the first is its subject. */
  domains: string[];
  email: string;
  /** ACME directory URL. */
  acmeServer: string;
}

/** Seconds between renewal attempts, and after a failed one (DNS not there yet, rate limit…). */
export const RENEW_EVERY_SECONDS = 12 * 3600;
export const RETRY_AFTER_SECONDS = 15 * 60;

export function renderRenewScript(input: CertbotInput): string {
  const domainFlags = input.domains.map((d) => `-d ${quoteShell(d)}`).join(" ");
  return `#!/bin/sh
# Rendered by firmground: obtain, then keep renewing, the certificate for every public hostname.
set -u
trap 'exit 0' TERM INT
while :; do
  touch ${CERTBOT.heartbeat}
  if certbot certonly --non-interactive --agree-tos --keep-until-expiring --expand \\
      --server ${quoteShell(input.acmeServer)} --email ${quoteShell(input.email)} \\
      --cert-name ${CERTBOT.certName} --webroot -w ${CERTBOT.webroot} \\
      --deploy-hook ${CERTBOT.deployHook} \\
      ${domainFlags}; then
    pause=${RENEW_EVERY_SECONDS}
  else
    echo "certificate request failed; retrying in ${RETRY_AFTER_SECONDS} s" >&2
    pause=${RETRY_AFTER_SECONDS}
  fi
  sleep "$pause" &
  wait $!
done
`;
}

/**
 * Runs after each issuance or renewal. Installs the certificate for HAProxy (one PEM with the key)
 * and for coturn (chain and key), each readable only by that image's user, then reloads HAProxy.
 * coturn's supervisor notices the new files by itself.
 */
export function renderDeployHook(): string {
  const live = `${CERTBOT.configDir}/live/${CERTBOT.certName}`;
  return `#!/bin/sh
# Rendered by firmground: certbot deploy hook.
set -eu
umask 077
live=${live}

install_file() { # owner destination source...
  owner=$1 destination=$2
  shift 2
  cat "$@" > "$destination.tmp"
  chown "$owner:$owner" "$destination.tmp"
  chmod 0600 "$destination.tmp"
  mv -f "$destination.tmp" "$destination"
}

mkdir -p ${CERTBOT.haproxyCertDir} ${CERTBOT.coturnCertDir}
install_file ${IMAGE_USERS.haproxy} ${CERTBOT.haproxyCertDir}/${CERTBOT.certName}.pem "$live/fullchain.pem" "$live/privkey.pem"
install_file ${IMAGE_USERS.coturn} ${CERTBOT.coturnCertDir}/fullchain.pem "$live/fullchain.pem"
install_file ${IMAGE_USERS.coturn} ${CERTBOT.coturnCertDir}/privkey.pem "$live/privkey.pem"

# HAProxy's master process re-reads its configuration and certificates on "reload".
python3 - <<'PY'
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect("${CERTBOT.haproxyControlDir}/master.sock")
s.sendall(b"reload\\n")
print(s.recv(4096).decode(errors="replace").strip() or "haproxy reload requested")
s.close()
PY
`;
}
