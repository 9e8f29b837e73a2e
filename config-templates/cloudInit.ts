/**
 * First-boot configuration of the Scaleway instance: mount the data volume (formatting it only when
 * it is blank), then install Docker with its API on 2376 behind TLS client verification.
 *
 * Order matters: Docker is installed only after the data volume is mounted, so no container ever
 * writes into an empty mount point on the root disk; on later boots systemd waits for the mount.
 */
import * as YAML from "yaml";

export const DATA_MOUNT = "/srv/firmground";
export const DOCKER_TLS_PORT = 2376;
const DOCKER_TLS_DIR = "/etc/docker/tls";
const BOOTSTRAP = "/usr/local/sbin/firmground-bootstrap";

/**
 * How the daemon publishes ports: by iptables and ip6tables DNAT only, without the userland proxy,
 * which would make every IPv6 client (and every client it forwards) appear as the bridge's address.
 * ip6tables needs `experimental` before Docker 27 (Debian 12 ships 20.10; Ubuntu 24.04 has had 24-28).
 */
export const PUBLISHING = { "userland-proxy": false, ip6tables: true, experimental: true } as const;

export interface CloudInitInput {
  /** The Scaleway block volume's UUID (without the zone prefix). */
  dataVolumeUuid: string;
  sshPublicKeys: string[];
  dockerCaCert: string;
  dockerServerCert: string;
  dockerServerKey: string;
  /** Directories to create on the data volume: path relative to the mount, owner uid, mode. */
  dataDirs: Array<{ path: string; owner: string; mode: string }>;
}

export function renderBootstrapScript(input: Pick<CloudInitInput, "dataVolumeUuid" | "dataDirs">): string {
  const dirs = input.dataDirs
    .map((d) => `install -d -o ${d.owner} -g ${d.owner} -m ${d.mode} "$mount/${d.path}"`)
    .join("\n");
  return `#!/bin/sh
# Rendered by firmground: mount the data volume, then install and start Docker.
set -eu
device=/dev/disk/by-id/scsi-0SCW_sbs_volume-${input.dataVolumeUuid}
mount=${DATA_MOUNT}

tries=0
until [ -b "$device" ]; do
  tries=$((tries + 1))
  if [ "$tries" -gt 60 ]; then
    echo "firmground: data volume $device did not appear" >&2
    exit 1
  fi
  sleep 5
done

# Format only a blank volume: a retained volume from an earlier deployment keeps its data.
if ! blkid "$device" >/dev/null 2>&1; then
  mkfs.ext4 -q -L firmground-data "$device"
fi
uuid=$(blkid -s UUID -o value "$device")
mkdir -p "$mount"
grep -q "UUID=$uuid" /etc/fstab || echo "UUID=$uuid $mount ext4 defaults,nofail 0 2" >> /etc/fstab
mountpoint -q "$mount" || mount "$mount"

${dirs}

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q docker.io
systemctl daemon-reload
systemctl enable docker
systemctl restart docker
`;
}

/** The complete user data (`#cloud-config`). */
export function renderCloudInit(input: CloudInitInput): string {
  const daemonJson = {
    tls: true,
    tlsverify: true,
    tlscacert: `${DOCKER_TLS_DIR}/ca.pem`,
    tlscert: `${DOCKER_TLS_DIR}/server-cert.pem`,
    tlskey: `${DOCKER_TLS_DIR}/server-key.pem`,
    "log-driver": "json-file",
    "log-opts": { "max-size": "10m", "max-file": "3" },
    "live-restore": true,
    ...PUBLISHING,
  };
  const dropIn = [
    "[Unit]",
    `RequiresMountsFor=${DATA_MOUNT}`,
    "[Service]",
    "ExecStart=",
    `ExecStart=/usr/bin/dockerd -H fd:// -H tcp://0.0.0.0:${DOCKER_TLS_PORT} --containerd=/run/containerd/containerd.sock`,
    "",
  ].join("\n");
  const config = {
    ssh_pwauth: false,
    ...(input.sshPublicKeys.length > 0 ? { ssh_authorized_keys: input.sshPublicKeys } : {}),
    package_update: true,
    packages: ["ca-certificates"],
    write_files: [
      { path: `${DOCKER_TLS_DIR}/ca.pem`, permissions: "0644", content: input.dockerCaCert },
      { path: `${DOCKER_TLS_DIR}/server-cert.pem`, permissions: "0644", content: input.dockerServerCert },
      { path: `${DOCKER_TLS_DIR}/server-key.pem`, permissions: "0600", content: input.dockerServerKey },
      { path: "/etc/docker/daemon.json", permissions: "0644", content: `${JSON.stringify(daemonJson, null, 2)}\n` },
      { path: "/etc/systemd/system/docker.service.d/firmground.conf", permissions: "0644", content: dropIn },
      { path: BOOTSTRAP, permissions: "0755", content: renderBootstrapScript(input) },
    ],
    runcmd: [[BOOTSTRAP]],
  };
  return `#cloud-config\n${YAML.stringify(config, { lineWidth: 0 })}`;
}
