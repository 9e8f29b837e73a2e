/**
 * Where each file lives inside its container, and the names containers reach each other by.
 * Renderers and components both read these, so a path is written once; names, ports, users and
 * data directories come from the service registry.
 */
import { SERVICES } from "../components/services/registry";

/** Container names on the internal network (also their DNS names there), from the service registry. */
export const HOSTS = {
  postgres: SERVICES.postgres.host,
  synapse: SERVICES.synapse.host,
  nginx: SERVICES.nginx.host,
  element: SERVICES.element.host,
  synapseAdmin: SERVICES.synapseAdmin.host,
} as const;

/** Ports inside the containers, from the service registry. */
export const PORTS = {
  postgres: SERVICES.postgres.ports.sql,
  synapse: SERVICES.synapse.ports.http,
  nginx: SERVICES.nginx.ports.http,
  element: SERVICES.element.ports.http,
  synapseAdmin: SERVICES.synapseAdmin.ports.http,
  /** HAProxy's own liveness endpoint, bound to loopback inside its container. */
  haproxyHealth: SERVICES.haproxy.ports.health,
  turn: SERVICES.coturn.ports.turn,
  turns: SERVICES.coturn.ports.turns,
} as const;

/** Numeric users of the images' unprivileged processes: files they read are owned by them. */
export const IMAGE_USERS = {
  postgres: SERVICES.postgres.uid,
  synapse: SERVICES.synapse.uid,
  haproxy: SERVICES.haproxy.uid,
  coturn: SERVICES.coturn.uid,
} as const;

export const SYNAPSE = {
  configFile: "/config/homeserver.yaml",
  secretsDir: "/secrets",
  signingKey: "/secrets/signing.key",
  macaroonSecretKey: "/secrets/macaroon_secret_key",
  registrationSharedSecret: "/secrets/registration_shared_secret",
  formSecret: "/secrets/form_secret",
  turnSharedSecret: "/secrets/turn_shared_secret",
  pgpass: "/secrets/pgpass",
  /** Settings of a secret synapseExtraConfig (only when there is one). */
  secretConfig: "/secrets/homeserver-secret.yaml",
  mediaStore: "/data/media_store",
} as const;

export const POSTGRES = {
  configFile: "/etc/postgresql/postgresql.conf",
  hbaFile: "/etc/postgresql/pg_hba.conf",
  passwordFile: "/run/secrets/postgres-password",
  dataDir: "/var/lib/postgresql/data",
  database: "synapse",
  user: "synapse",
} as const;

export const HAPROXY = {
  configFile: "/usr/local/etc/haproxy/haproxy.cfg",
  fallbackCert: "/usr/local/etc/haproxy/fallback.pem",
  /** Certificates the renewer writes, one PEM (chain + key) per file. */
  certDir: "/certs",
  /** Shared with the renewer, which asks HAProxy's master process to reload through it. */
  controlDir: "/var/lib/haproxy",
  masterSocket: "/var/lib/haproxy/master.sock",
} as const;

export const NGINX = {
  configFile: "/etc/nginx/conf.d/default.conf",
  wellKnownDir: "/usr/share/nginx/well-known",
  acmeWebroot: "/var/www/acme",
} as const;

export const ELEMENT = {
  configFile: "/app/config.json",
} as const;

export const SYNAPSE_ADMIN = {
  configFile: "/var/public/config.json",
} as const;

export const COTURN = {
  configFile: "/etc/coturn/turnserver.conf",
  runScript: "/etc/coturn/run.sh",
  fallbackCert: "/etc/coturn/fallback-cert.pem",
  fallbackKey: "/etc/coturn/fallback-key.pem",
  certDir: "/certs",
} as const;

export const CERTBOT = {
  renewScript: "/etc/firmground/renew.sh",
  deployHook: "/etc/firmground/deploy-hook.sh",
  configDir: "/etc/letsencrypt",
  webroot: "/var/www/acme",
  haproxyCertDir: "/certs/haproxy",
  coturnCertDir: "/certs/coturn",
  haproxyControlDir: "/run/haproxy",
  certName: "firmground",
  heartbeat: "/tmp/heartbeat",
} as const;

export const BACKUP = {
  script: "/etc/firmground/backup.sh",
  /** The tools volume, where the restic image's binary is copied. */
  toolsDir: "/opt/restic",
  restic: "/opt/restic/restic",
  /** The backup's directory on the data volume. */
  state: "/backup",
  /** Synapse's media store, mounted at the same path as in Synapse's container. */
  media: SYNAPSE.mediaStore,
  signingKey: "/secrets/signing.key",
  passwordFile: "/secrets/restic-password",
  postgresPasswordFile: "/secrets/postgres-password",
  credentialsFile: "/secrets/repository.env",
  /** A repository directory on the Docker host (docker target), mounted here. */
  localRepository: "/repository",
  /** Where the restic image keeps its binary. */
  imageRestic: "/usr/bin/restic",
} as const;

/** Directories on the host's data volume (see the host bootstrap), relative to its mount point. */
export const DATA_DIRS = {
  postgres: SERVICES.postgres.dataDirs[0].path,
  media: SERVICES.synapse.dataDirs[1].path,
  letsencrypt: SERVICES.certbot.dataDirs[0].path,
  certs: SERVICES.certbot.dataDirs[1].path,
  haproxyCerts: SERVICES.haproxy.dataDirs[0].path,
  coturnCerts: SERVICES.coturn.dataDirs[0].path,
  backup: SERVICES.backup.dataDirs[0].path,
} as const;
