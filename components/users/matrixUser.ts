/**
 * One Matrix account as a Pulumi resource. Create registers it with the shared secret (or, when it
 * already exists, as after re-deploying over a retained volume, sets its password, admin flag and
 * display name, and reactivates it); update does the same with the new values, or deactivates it when
 * `deactivated` is set. Delete leaves the account as it is: accounts live in Synapse's database, which
 * outlives the stack (`pulumi destroy` keeps the data volume), and a deactivation also takes the user
 * out of every room, which a destroy-and-redeploy could not undo.
 * Every operation is a one-shot container on the internal network (see userJobs.ts), so nothing
 * outside the host needs `/_synapse/admin`.
 *
 * The engine serializes `matrixUserProvider` (with everything it references) into the state, in plain
 * text, and later runs that text in a plain Node.js process: no TypeScript loader, the project root as
 * working directory (@pulumi/pulumi's cmd/dynamic-provider). So the provider references functions, not
 * module paths; nothing of Pulumi's runtime (whose config store holds every stack config value); and
 * errors by name and code. tests/users.test.ts loads the serialized text that way and runs it.
 */
import * as pulumi from "@pulumi/pulumi";
import type { UserJob } from "../../config-templates/userJob";
import type { DockerConnection } from "../dockerApi";
import { runUserJob, type JobTarget } from "./userJobs";

export interface MatrixUserInputs {
  /** Docker daemon of the host. Changing it (a new host address) does not touch the account. */
  connection: DockerConnection;
  /** Image the job runs from (the Synapse image: it has Python) and the internal network's name. */
  image: string;
  network: string;
  serverName: string;
  sharedSecret: string;
  /** The admin the job logs in as to update an existing account. */
  adminUser: string;
  adminPassword: string;
  /** The admin's kept access token (the admin resource's `accessToken`); login is the fallback. */
  adminToken?: string;
  username: string;
  password: string;
  admin: boolean;
  displayName?: string;
  /** Deactivate the account (and keep its data); false or absent: keep it active. */
  deactivated?: boolean;
  /** How long create waits for Synapse (a first deploy starts it moments before). */
  waitSeconds: number;
}

/** Fields whose change re-runs the job; a new username or server name is another account. */
const ACCOUNT_FIELDS = ["password", "admin", "displayName", "deactivated"] as const;
const IDENTITY_FIELDS = ["username", "serverName"] as const;

/** What changed between two input sets, as the dynamic provider's diff reports it. */
export function diffUser(olds: MatrixUserInputs, news: MatrixUserInputs) {
  const replaces = IDENTITY_FIELDS.filter((f) => olds[f] !== news[f]);
  const changed = ACCOUNT_FIELDS.filter((f) => olds[f] !== news[f]);
  return { changes: replaces.length + changed.length > 0, replaces: [...replaces], deleteBeforeReplace: false };
}

/** The job for an input set; `loginPassword` is the admin password valid *before* this operation. */
export function ensureJob(inputs: MatrixUserInputs, loginPassword: string): UserJob {
  return {
    action: "ensure",
    serverName: inputs.serverName,
    sharedSecret: inputs.sharedSecret,
    adminUser: inputs.adminUser,
    adminPassword: loginPassword,
    ...(inputs.adminToken ? { adminToken: inputs.adminToken } : {}),
    // The admin's own resource keeps a token for the others (and `npm run user`) to use.
    returnToken: inputs.username === inputs.adminUser,
    username: inputs.username,
    password: inputs.password,
    admin: inputs.admin,
    ...(inputs.displayName ? { displayName: inputs.displayName } : {}),
    ...(inputs.deactivated ? { deactivated: true } : {}),
    waitSeconds: inputs.waitSeconds,
  };
}

const target = (inputs: MatrixUserInputs): JobTarget => ({
  connection: inputs.connection,
  image: inputs.image,
  network: inputs.network,
});

export const matrixUserProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: MatrixUserInputs) {
    const answer = await runUserJob(target(inputs), ensureJob(inputs, inputs.adminPassword));
    return { id: `@${inputs.username}:${inputs.serverName}`, outs: withToken(inputs, answer.accessToken) };
  },

  diff(_id: string, olds: MatrixUserInputs, news: MatrixUserInputs) {
    return Promise.resolve(diffUser(olds, news));
  },

  async update(_id: string, olds: MatrixUserInputs, news: MatrixUserInputs) {
    // The admin's own resource: its kept token, or a login with the password it had until now.
    const self = news.username === news.adminUser;
    const inputs = self ? { ...news, adminToken: (olds as MatrixUserOutputs).accessToken } : news;
    const answer = await runUserJob(target(inputs), ensureJob(inputs, self ? olds.password : news.adminPassword));
    return { outs: withToken(news, answer.accessToken ?? (olds as MatrixUserOutputs).accessToken) };
  },

  // Leaves the account as it is (see above); a user taken out of config is no longer managed.
  delete() {
    return Promise.resolve();
  },
};

export interface MatrixUserOutputs extends MatrixUserInputs {
  /** The admin resource only: an access token of the admin, kept so that jobs need not log in. */
  accessToken?: string;
}

const withToken = (inputs: MatrixUserInputs, accessToken?: string): MatrixUserOutputs =>
  accessToken ? { ...inputs, accessToken } : inputs;

/** A Matrix account kept in the state given by its inputs. Passwords and secrets are secret outputs. */
export class MatrixUser extends pulumi.dynamic.Resource {
  declare public readonly username: pulumi.Output<string>;
  declare public readonly password: pulumi.Output<string>;
  declare public readonly admin: pulumi.Output<boolean>;
  declare public readonly accessToken: pulumi.Output<string | undefined>;

  constructor(
    name: string,
    args: pulumi.Inputs & { [K in keyof MatrixUserInputs]: pulumi.Input<MatrixUserInputs[K]> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      matrixUserProvider,
      name,
      { accessToken: undefined, ...args },
      {
        ...opts,
        additionalSecretOutputs: [
          "connection",
          "sharedSecret",
          "adminPassword",
          "adminToken",
          "password",
          "accessToken",
        ],
      },
    );
  }
}
