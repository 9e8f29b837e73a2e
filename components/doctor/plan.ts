/**
 * What `npm run doctor` checks the live server against: the stack's intended state, as the `doctorPlan`
 * output gives it (no secret in it). Derived from the validated settings and the service registry, so
 * the doctor and the deployment cannot disagree about names, ports or images.
 */
import type { PortRange, Settings } from "../config";
import { DOCKER_TLS_PORT } from "../../config-templates/cloudInit";
import { BACKUP, POSTGRES } from "../../config-templates/paths";
import { wellKnownClient, wellKnownServer } from "../../config-templates/web";
import { facts, PUBLIC_PORTS, SERVICES, type Service } from "../services/registry";
import { LOCAL_HOST_PORTS, publicHostnames, runningServices } from "../services/matrixServices";

/** The federation port HAProxy publishes on both targets. */
export const FEDERATION_PORT = 8448;
/** coturn's public ports: TURN over UDP/TCP, and over TLS. */
export const TURN_PORTS = { plain: SERVICES.coturn.ports.turn, tls: SERVICES.coturn.ports.turns } as const;
/** The host's own SSH port (open to adminCidrs only). */
export const SSH_PORT = 22;

export interface PlannedContainer {
  name: string;
  service: Service;
  /** The image the stack runs it from. */
  image: string;
}

export interface DoctorPlan {
  serverName: string;
  matrixHost: string;
  elementHost: string;
  turnHost: string;
  /** Present when the admin UI is on. */
  adminHost?: string;
  /** Every public name, each expected to resolve to `addresses`. */
  hostnames: string[];
  /** `dns`: the names are in public DNS (scaleway); `system`: the machine's resolver, /etc/hosts included (docker). */
  resolver: "dns" | "system";
  httpsPort: number;
  federationPort: number;
  addresses: { ipv4: string; ipv6?: string };
  adminCidrs: string[];
  /** TCP ports the firewall opens to the world. */
  publicTcpPorts: number[];
  /** TCP ports open to adminCidrs only (to the world when adminCidrs is empty). */
  adminTcpPorts: number[];
  turnRelayPorts: PortRange;
  wellKnownServer: Record<string, unknown>;
  wellKnownClient: Record<string, unknown>;
  containers: PlannedContainer[];
  /** Where the data volume's use is measured: a directory on it, inside a container. */
  dataVolume: { container: string; path: string };
  /** Present when backups are on: the backup container and its script. */
  backup?: { container: string; script: string };
  /** The PostgreSQL container (its server version is compared with the image's). */
  postgresContainer: string;
  /** The key id of the stack's signing key: what federation must serve. */
  signingKeyId: string;
}

export function doctorPlan(
  settings: Settings,
  addresses: { ipv4: string; ipv6?: string },
  target: "scaleway" | "docker",
  signingKeyId: string,
): DoctorPlan {
  const image = (s: Service) =>
    // The backup container runs the PostgreSQL image (restic's image only supplies the binary).
    s === "backup" ? settings.images.postgres : settings.images[s];
  return {
    serverName: settings.serverName,
    matrixHost: settings.matrixHost,
    elementHost: settings.elementHost,
    turnHost: settings.turnHost,
    ...(settings.adminUi ? { adminHost: settings.adminHost } : {}),
    hostnames: publicHostnames(settings),
    resolver: target === "scaleway" ? "dns" : "system",
    httpsPort: settings.httpsPort,
    federationPort: FEDERATION_PORT,
    addresses,
    adminCidrs: settings.adminCidrs,
    publicTcpPorts: [
      ...new Set(
        PUBLIC_PORTS.filter((p) => p.protocol === "TCP").map((p) =>
          target === "docker" ? (LOCAL_HOST_PORTS[p.port] ?? p.port) : p.port,
        ),
      ),
    ],
    adminTcpPorts: target === "scaleway" ? [SSH_PORT, DOCKER_TLS_PORT] : [],
    turnRelayPorts: settings.turnRelayPorts,
    wellKnownServer: wellKnownServer(settings.matrixHost, settings.httpsPort),
    wellKnownClient: wellKnownClient(settings.matrixHost, settings.httpsPort),
    containers: runningServices(settings, { local: target === "docker", backup: settings.backup.enabled }).map(
      (service) => ({
        name: facts(service).host,
        service,
        image: image(service),
      }),
    ),
    dataVolume: { container: facts("postgres").host, path: POSTGRES.dataDir },
    ...(settings.backup.enabled ? { backup: { container: facts("backup").host, script: BACKUP.script } } : {}),
    postgresContainer: facts("postgres").host,
    signingKeyId,
  };
}
