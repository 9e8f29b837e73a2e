/**
 * turnserver.conf and the small supervisor that restarts coturn when the certificate changes.
 *
 * coturn runs with host networking (publishing a relay range through Docker makes one proxy per
 * port). It authenticates with Synapse's shared secret (REST-API credentials) and refuses to relay
 * to private, loopback and link-local addresses, so it cannot be used to reach the host's own
 * services or the provider's internal network. TLS 1.0 and 1.1 are off by default since coturn
 * 4.7.0, which removed the options that disabled them.
 */
import type { PortRange } from "../components/config";
import { COTURN, PORTS } from "./paths";

export interface CoturnInput {
  realm: string;
  /** The host's public IPv4: coturn advertises it in relayed candidates. */
  externalIp: string;
  relayPorts: PortRange;
  sharedSecret: string;
}

/** Peers a TURN relay must never reach (RFC 1918, loopback, link-local, CGNAT, ULA, …). */
export const DENIED_PEER_RANGES = [
  "0.0.0.0-0.255.255.255",
  "10.0.0.0-10.255.255.255",
  "100.64.0.0-100.127.255.255",
  "127.0.0.0-127.255.255.255",
  "169.254.0.0-169.254.255.255",
  "172.16.0.0-172.31.255.255",
  "192.0.0.0-192.0.0.255",
  "192.0.2.0-192.0.2.255",
  "192.88.99.0-192.88.99.255",
  "192.168.0.0-192.168.255.255",
  "198.18.0.0-198.19.255.255",
  "198.51.100.0-198.51.100.255",
  "203.0.113.0-203.0.113.255",
  "240.0.0.0-255.255.255.255",
  "::1",
  "64:ff9b::-64:ff9b::ffff:ffff",
  "::ffff:0.0.0.0-::ffff:255.255.255.255",
  "100::-100::ffff:ffff:ffff:ffff",
  "2001::-2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
  "2002::-2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
  "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
  "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
];

export function renderTurnserverConf(input: CoturnInput): string {
  const lines = [
    "# Rendered by firmground; holds the TURN shared secret.",
    `listening-port=${PORTS.turn}`,
    `tls-listening-port=${PORTS.turns}`,
    `external-ip=${input.externalIp}`,
    `realm=${input.realm}`,
    `server-name=${input.realm}`,
    "use-auth-secret",
    `static-auth-secret=${input.sharedSecret}`,
    `min-port=${input.relayPorts.min}`,
    `max-port=${input.relayPorts.max}`,
    `cert=${COTURN.certDir}/fullchain.pem`,
    `pkey=${COTURN.certDir}/privkey.pem`,
    "no-tcp-relay",
    "no-multicast-peers",
    "no-cli",
    "no-software-attribute",
    "fingerprint",
    "user-quota=12",
    "total-quota=1200",
    "stale-nonce=600",
    "log-file=stdout",
    "simple-log",
    ...DENIED_PEER_RANGES.map((range) => `denied-peer-ip=${range}`),
    "",
  ];
  return lines.join("\n");
}

/**
 * The coturn container's entry point: runs turnserver, and restarts it when the renewer writes a
 * new certificate (coturn only reads it at start). Until the first certificate is issued it uses
 * the self-signed fallback, so TURN over UDP/TCP works from the first minute.
 */
export function renderCoturnRunScript(): string {
  return `#!/bin/sh
# Rendered by firmground: run coturn; restart it when its certificate changes.
set -u
cert="${COTURN.certDir}/fullchain.pem"
key="${COTURN.certDir}/privkey.pem"
child=""

stop() {
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null && wait "$child"
  exit 0
}
trap stop TERM INT

fingerprint() {
  cat "$cert" "$key" 2>/dev/null | md5sum
}

while :; do
  if [ -r "$cert" ] && [ -r "$key" ]; then
    set -- --cert "$cert" --pkey "$key"
  else
    set -- --cert "${COTURN.fallbackCert}" --pkey "${COTURN.fallbackKey}"
  fi
  seen=$(fingerprint)
  turnserver -c "${COTURN.configFile}" "$@" &
  child=$!
  while kill -0 "$child" 2>/dev/null; do
    sleep 60 &
    wait $!
    if [ "$(fingerprint)" != "$seen" ]; then
      echo "certificate changed; restarting turnserver"
      kill -TERM "$child"
      wait "$child"
      break
    fi
  done
  wait "$child" 2>/dev/null
  sleep 1
done
`;
}
