import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { IMAGE_USERS, POSTGRES, PORTS } from "../../config-templates/paths";
import { renderPgHba, renderPostgresqlConf, type PostgresMemory } from "../../config-templates/postgres";
import { serviceContainer, upload, type ServiceArgs } from "./container";

export interface PostgresArgs extends ServiceArgs {
  /** Password of the synapse role. Set once at initdb: changing it later does not change the role's. */
  password: pulumi.Input<string>;
  /** Host directory holding the cluster (on the data volume). Never change it after the first deploy. */
  dataPath: string;
  /** Memory settings, derived from the container's limit unless overridden. Can change at any time. */
  memory: PostgresMemory;
}

/**
 * PostgreSQL for Synapse: a UTF8 database with C collation (Synapse refuses anything else),
 * reachable only on the internal network, data on the host's data volume.
 */
export class Postgres extends pulumi.ComponentResource {
  public readonly postgresqlConf: string;
  public readonly pgHbaConf: string;
  public readonly container: docker.Container;

  constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:services:Postgres", name, {}, opts);
    this.postgresqlConf = renderPostgresqlConf({ memory: args.memory });
    this.pgHbaConf = renderPgHba();
    this.container = serviceContainer(
      `${name}-container`,
      this,
      {
        ...args,
        serviceName: "postgres",
        uploads: [
          upload(POSTGRES.configFile, this.postgresqlConf),
          upload(POSTGRES.hbaFile, this.pgHbaConf),
          upload(POSTGRES.passwordFile, args.password, { owner: IMAGE_USERS.postgres, mode: "0600" }),
        ],
        healthcheck: ["CMD", "pg_isready", "-U", POSTGRES.user, "-d", POSTGRES.database, "-p", String(PORTS.postgres)],
        extra: {
          command: ["postgres", "-c", `config_file=${POSTGRES.configFile}`],
          envs: [
            `POSTGRES_USER=${POSTGRES.user}`,
            `POSTGRES_DB=${POSTGRES.database}`,
            `POSTGRES_PASSWORD_FILE=${POSTGRES.passwordFile}`,
            "POSTGRES_INITDB_ARGS=--encoding=UTF8 --locale=C",
          ],
          volumes: [{ hostPath: args.dataPath, containerPath: POSTGRES.dataDir }],
          shmSize: 256,
          stopTimeout: 60,
        },
      },
      opts,
    );
    this.registerOutputs({ postgresqlConf: this.postgresqlConf, pgHbaConf: this.pgHbaConf });
  }
}
