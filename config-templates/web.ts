/**
 * What NGINX and Element serve: the two /.well-known/matrix documents, NGINX's site config
 * (well-known + ACME webroot), and Element's config.json.
 */
import { NGINX, PORTS } from "./paths";

/** `https://host`, with the port when it is not 443 (the local target publishes 8443). */
export const httpsOrigin = (host: string, port = 443) => (port === 443 ? `https://${host}` : `https://${host}:${port}`);

/** `/.well-known/matrix/server`: federation goes to the matrix host on the public HTTPS port. */
export function wellKnownServer(matrixHost: string, port = 443): Record<string, string> {
  return { "m.server": `${matrixHost}:${port}` };
}

/** `/.well-known/matrix/client`: where clients find the client-server API. */
export function wellKnownClient(matrixHost: string, port = 443): Record<string, unknown> {
  return { "m.homeserver": { base_url: httpsOrigin(matrixHost, port) } };
}

export const renderJson = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/**
 * NGINX site: both documents as application/json with CORS (Element X and web clients need both),
 * the ACME webroot the renewer writes to, and a health endpoint. Anything else is 404.
 */
export function renderNginxConf(): string {
  return [
    "# Rendered by firmground.",
    "server {",
    `    listen ${PORTS.nginx};`,
    "    server_name _;",
    "    server_tokens off;",
    "",
    "    location /.well-known/matrix/ {",
    `        root ${NGINX.wellKnownDir};`,
    "        default_type application/json;",
    "        add_header Access-Control-Allow-Origin * always;",
    '        add_header Cache-Control "public, max-age=3600" always;',
    "    }",
    "",
    "    location /.well-known/acme-challenge/ {",
    `        root ${NGINX.acmeWebroot};`,
    "        default_type text/plain;",
    "    }",
    "",
    "    location = /healthz {",
    "        access_log off;",
    "        default_type text/plain;",
    '        return 200 "ok\\n";',
    "    }",
    "",
    "    location / {",
    "        return 404;",
    "    }",
    "}",
    "",
  ].join("\n");
}

/** The admin UI's config.json: locked to this homeserver, no server field to fill in. */
export function adminUiConfig(matrixHost: string, port = 443): Record<string, unknown> {
  return { restrictBaseUrl: httpsOrigin(matrixHost, port) };
}

export interface ElementInput {
  serverName: string;
  matrixHost: string;
  directoryServers: string[];
  /** Public HTTPS port (443; 8443 on the local target). */
  httpsPort?: number;
}

/** Element web's config.json: our homeserver by default, the room directory list, no guests. */
export function elementConfig(input: ElementInput): Record<string, unknown> {
  return {
    default_server_config: {
      "m.homeserver": { base_url: httpsOrigin(input.matrixHost, input.httpsPort), server_name: input.serverName },
    },
    disable_custom_urls: false,
    disable_guests: true,
    disable_3pid_login: true,
    brand: "Element",
    room_directory: { servers: input.directoryServers },
    default_theme: "light",
    show_labs_settings: false,
    setting_defaults: { "UIFeature.registration": false },
  };
}
