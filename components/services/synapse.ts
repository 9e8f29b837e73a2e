import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { IMAGE_USERS, PORTS, SYNAPSE } from "../../config-templates/paths";
import { renderHomeserverFiles, renderPgpass, type HomeserverInput } from "../../config-templates/synapse";
import { serviceContainer, upload, type ServiceArgs } from "./container";

export interface SynapseArgs extends ServiceArgs {
  /** Everything homeserver.yaml is rendered from (no secrets). */
  homeserver: HomeserverInput;
  /** Secret files, each a Pulumi secret. The signing key must never change after the first deploy. */
  signingKey: pulumi.Input<string>;
  macaroonSecretKey: pulumi.Input<string>;
  registrationSharedSecret: pulumi.Input<string>;
  formSecret: pulumi.Input<string>;
  turnSharedSecret: pulumi.Input<string>;
  postgresPassword: pulumi.Input<string>;
  /** Host directory of the media store (on the data volume). */
  mediaPath: string;
}

/**
 * Synapse from the official image, started directly with its rendered files: no generate step,
 * no second run. homeserver.yaml holds no secret; each secret is a file readable only by Synapse.
 */
export class Synapse extends pulumi.ComponentResource {
  /** The rendered homeserver.yaml: safe to show, it references secrets by path only. */
  public readonly homeserverYaml: string;
  /** The secret synapseExtraConfig's settings, when there are any (a secret). */
  public readonly secretConfigYaml?: pulumi.Output<string>;
  public readonly container: docker.Container;

  constructor(name: string, args: SynapseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:services:Synapse", name, {}, opts);
    const files = renderHomeserverFiles(args.homeserver);
    this.homeserverYaml = files.homeserverYaml;
    const secretFile = (file: string, content: pulumi.Input<string>) =>
      upload(file, pulumi.secret(content), { owner: IMAGE_USERS.synapse, mode: "0600" });
    if (files.secretYaml !== undefined) this.secretConfigYaml = pulumi.secret(files.secretYaml);

    this.container = serviceContainer(
      `${name}-container`,
      this,
      {
        ...args,
        serviceName: "synapse",
        uploads: [
          upload(SYNAPSE.configFile, this.homeserverYaml),
          secretFile(SYNAPSE.signingKey, args.signingKey),
          secretFile(SYNAPSE.macaroonSecretKey, args.macaroonSecretKey),
          secretFile(SYNAPSE.registrationSharedSecret, args.registrationSharedSecret),
          secretFile(SYNAPSE.formSecret, args.formSecret),
          secretFile(SYNAPSE.turnSharedSecret, args.turnSharedSecret),
          secretFile(SYNAPSE.pgpass, pulumi.output(args.postgresPassword).apply(renderPgpass)),
          ...(this.secretConfigYaml ? [secretFile(SYNAPSE.secretConfig, this.secretConfigYaml)] : []),
        ],
        healthcheck: ["CMD", "curl", "-fsS", `http://localhost:${PORTS.synapse}/health`],
        extra: {
          // The image's start.py runs Synapse as 991:991 with jemalloc preloaded; given config paths, it
          // passes them on (and ignores SYNAPSE_CONFIG_PATH).
          command: this.secretConfigYaml
            ? ["run", "--config-path", SYNAPSE.configFile, "--config-path", SYNAPSE.secretConfig]
            : ["run"],
          envs: [`SYNAPSE_CONFIG_PATH=${SYNAPSE.configFile}`],
          volumes: [{ hostPath: args.mediaPath, containerPath: SYNAPSE.mediaStore }],
          stopTimeout: 30,
        },
      },
      opts,
    );
    this.registerOutputs({ homeserverYaml: this.homeserverYaml });
  }
}
