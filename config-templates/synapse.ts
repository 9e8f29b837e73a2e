/**
 * homeserver.yaml and the secret files Synapse reads beside it.
 *
 * homeserver.yaml carries no secret: every secret is a file of its own, named by a `*_path` option
 * (the database password through libpq's `passfile`). So the main file can be shown, diffed and
 * published as a plain output.
 */
import * as YAML from "yaml";
import type { FederationSettings } from "../components/config";
import { deepMerge } from "../components/util";
import { HOSTS, PORTS, POSTGRES, SYNAPSE } from "./paths";
import type { SynapseTuning } from "./sizing";
import { httpsOrigin } from "./web";

export interface HomeserverInput {
  serverName: string;
  /** Public name of the client/federation endpoint, e.g. matrix.example.org. */
  matrixHost: string;
  turnHost: string;
  federation: FederationSettings;
  /** Largest upload, in bytes; HAProxy's body limit is the same number. */
  maxUploadBytes: number;
  /** Public HTTPS port (443; 8443 on the local target). */
  httpsPort?: number;
  /** Caches, presence and the remote-room limit, derived from RAM (config-templates/sizing.ts). */
  tuning: SynapseTuning;
  /** The user's `synapseExtraConfig`, already checked against the owned keys. */
  extra: Record<string, unknown>;
  /** `extra` was set as a secret: the settings it touches go to a file of their own (SYNAPSE.secretConfig). */
  extraIsSecret?: boolean;
}

/** homeserver.yaml (never secret) and, when the extra config is secret, the file holding its settings. */
export interface HomeserverFiles {
  homeserverYaml: string;
  /** Synapse reads it after homeserver.yaml (a second --config-path); top-level keys of later files win. */
  secretYaml?: string;
}

/** Synapse's settings as a plain object, before the user's extra config is merged in. */
export function homeserverDefaults(input: HomeserverInput): Record<string, unknown> {
  const { serverName, matrixHost, turnHost, federation } = input;
  return {
    server_name: serverName,
    public_baseurl: `${httpsOrigin(matrixHost, input.httpsPort)}/`,
    report_stats: false,
    listeners: [
      {
        port: PORTS.synapse,
        type: "http",
        tls: false,
        bind_addresses: ["0.0.0.0"],
        // HAProxy terminates TLS and sets X-Forwarded-For / -Proto.
        x_forwarded: true,
        resources: [{ names: ["client", "federation"], compress: false }],
      },
    ],
    database: {
      name: "psycopg2",
      args: {
        host: HOSTS.postgres,
        port: PORTS.postgres,
        user: POSTGRES.user,
        dbname: POSTGRES.database,
        // libpq reads the password from this file, so it is not in this one.
        passfile: SYNAPSE.pgpass,
        cp_min: 5,
        cp_max: 10,
        keepalives_idle: 10,
        keepalives_interval: 10,
        keepalives_count: 3,
      },
    },
    signing_key_path: SYNAPSE.signingKey,
    macaroon_secret_key_path: SYNAPSE.macaroonSecretKey,
    registration_shared_secret_path: SYNAPSE.registrationSharedSecret,
    form_secret_path: SYNAPSE.formSecret,
    media_store_path: SYNAPSE.mediaStore,
    max_upload_size: `${Math.floor(input.maxUploadBytes / (1024 * 1024))}M`,
    enable_registration: false,
    // Well-known documents are served by NGINX on the apex; Synapse need not serve them.
    serve_server_wellknown: false,
    turn_uris: [
      `turns:${turnHost}:${PORTS.turns}?transport=udp`,
      `turns:${turnHost}:${PORTS.turns}?transport=tcp`,
      `turn:${turnHost}:${PORTS.turn}?transport=udp`,
      `turn:${turnHost}:${PORTS.turn}?transport=tcp`,
    ],
    turn_shared_secret_path: SYNAPSE.turnSharedSecret,
    turn_user_lifetime: "1h",
    turn_allow_guests: false,
    // Memory: caches scaled to Synapse's limit and trimmed by jemalloc-based autotuning.
    caches: {
      global_factor: input.tuning.cacheFactor,
      cache_autotuning: {
        max_cache_memory_usage: `${input.tuning.cacheMaxMb}M`,
        target_cache_memory_usage: `${input.tuning.cacheTargetMb}M`,
        min_cache_ttl: "5m",
      },
    },
    event_cache_size: `${input.tuning.eventCacheK}K`,
    presence: { enabled: input.tuning.presence },
    // Housekeeping: rooms everyone left are dropped after 4 weeks; client IPs kept 4 weeks.
    forget_rooms_on_leave: true,
    forgotten_room_retention_period: "28d",
    user_ips_max_age: "28d",
    // The seed's OOM: one join of a huge federated room. Refuse rooms above the complexity (state
    // events / 500) whose join fits the memory budget; admins may still join deliberately.
    limit_remote_rooms: {
      enabled: true,
      complexity: input.tuning.remoteRoomComplexity,
      complexity_error: "This room is too large for this small server to join.",
      admins_can_join: true,
    },
    ...federationSettings(federation),
    trusted_key_servers: [{ server_name: "matrix.org" }],
    suppress_key_server_warning: true,
  };
}

function federationSettings(federation: FederationSettings): Record<string, unknown> {
  // An empty whitelist is how Synapse turns federation off; no key means "everyone".
  if (!federation.enabled) return { federation_domain_whitelist: [] };
  if (federation.whitelist) return { federation_domain_whitelist: federation.whitelist };
  return {};
}

const HEADER = "# Rendered by firmground; edit the stack config, not this file.\n";

/** The complete homeserver.yaml: defaults with the user's extra config deep-merged on top. */
export function renderHomeserverYaml(input: HomeserverInput): string {
  return renderHomeserverFiles(input).homeserverYaml;
}

/**
 * The configuration Synapse loads. A secret extra config is kept out of homeserver.yaml: every
 * top-level setting it touches, merged with firmground's defaults, goes to the secret file instead.
 */
export function renderHomeserverFiles(input: HomeserverInput): HomeserverFiles {
  const settings = deepMerge(homeserverDefaults(input), input.extra);
  if (!input.extraIsSecret || Object.keys(input.extra).length === 0) {
    return { homeserverYaml: HEADER + YAML.stringify(settings, { lineWidth: 0 }) };
  }
  const secretKeys = Object.keys(input.extra);
  const pick = (keep: (key: string) => boolean) =>
    Object.fromEntries(Object.entries(settings).filter(([key]) => keep(key)));
  return {
    homeserverYaml:
      HEADER +
      `# Set as a secret, so read from ${SYNAPSE.secretConfig} instead: ${secretKeys.join(", ")}.\n` +
      YAML.stringify(
        pick((key) => !secretKeys.includes(key)),
        { lineWidth: 0 },
      ),
    secretYaml:
      "# Rendered by firmground from the secret synapseExtraConfig; Synapse reads it after homeserver.yaml.\n" +
      YAML.stringify(
        pick((key) => secretKeys.includes(key)),
        { lineWidth: 0 },
      ),
  };
}

/** A libpq password file line: host:port:database:user:password, with `:` and `\` escaped. */
export function renderPgpass(password: string): string {
  const escape = (s: string) => s.replace(/[\\:]/g, (c) => `\\${c}`);
  return `${[HOSTS.postgres, String(PORTS.postgres), POSTGRES.database, POSTGRES.user, escape(password)].join(":")}\n`;
}

/** Synapse's signing key file: `ed25519 <key id> <unpadded base64 of the 32-byte seed>`. */
export function renderSigningKey(keyId: string, seedBase64: string): string {
  return `ed25519 ${keyId} ${seedBase64.replace(/=+$/, "")}\n`;
}
