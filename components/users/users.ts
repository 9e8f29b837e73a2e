import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { UserSpec } from "../config";
import type { DockerConnection } from "../dockerApi";
import { MatrixUser } from "./matrixUser";

export interface UsersArgs {
  /** The host's Docker daemon, where each user job runs. */
  connection: pulumi.Input<DockerConnection>;
  /** The Synapse image (the job runs Python from it) and the internal network's name. */
  image: string;
  network: pulumi.Input<string>;
  serverName: string;
  registrationSharedSecret: pulumi.Input<string>;
  /** The first admin's localpart. Renaming it creates a new admin; the old one is left as it is. */
  adminUser: string;
  /** The admin's password from config; generated (and kept) when undefined. Changing it rotates it. */
  adminPassword?: string;
  /**
   * Managed users. `deactivated` deactivates one; removing one from the list stops managing it (its
   * account is left as it is); a new password rotates it.
   */
  users: UserSpec[];
  /** Seconds to wait for Synapse on create. Default 300. */
  waitSeconds?: number;
}

/**
 * The first admin and the users from config, each a MatrixUser. Generated passwords are stable
 * across updates (Pulumi keeps them in the encrypted state) and exported as secrets.
 */
export class Users extends pulumi.ComponentResource {
  public readonly adminUserId: string;
  public readonly adminPassword: pulumi.Output<string>;
  /** The admin's kept access token (a secret): user jobs and `npm run user` use it instead of logging in. */
  public readonly adminAccessToken: pulumi.Output<string | undefined>;
  /** Password per managed user (admin excluded), a secret. */
  public readonly passwords: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: UsersArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:users:Users", name, {}, opts);
    const child = { parent: this };
    const passwordFor = (id: string, given?: string): pulumi.Output<string> =>
      given !== undefined
        ? pulumi.secret(given)
        : new random.RandomPassword(`${name}-${id}-password`, { length: 32, special: false }, child).result;

    const common = {
      connection: args.connection,
      image: args.image,
      network: args.network,
      serverName: args.serverName,
      sharedSecret: args.registrationSharedSecret,
      adminUser: args.adminUser,
      waitSeconds: args.waitSeconds ?? 300,
    };

    this.adminUserId = `@${args.adminUser}:${args.serverName}`;
    this.adminPassword = passwordFor("admin", args.adminPassword);
    const admin = new MatrixUser(
      `${name}-admin`,
      {
        ...common,
        adminPassword: this.adminPassword,
        username: args.adminUser,
        password: this.adminPassword,
        admin: true,
      },
      // Pulumi does not hand a component's dependsOn down to its children: the jobs need Synapse
      // (and its image) to exist, so the admin waits for them and every other user waits for the admin.
      { ...child, dependsOn: opts?.dependsOn },
    );

    const passwords: Record<string, pulumi.Output<string>> = {};
    for (const user of args.users) {
      passwords[user.name] = passwordFor(`user-${user.name}`, user.password);
      new MatrixUser(
        `${name}-user-${user.name}`,
        {
          ...common,
          // The admin's password as the admin resource holds it: after a rotation, the new one.
          adminPassword: admin.password,
          adminToken: admin.accessToken,
          username: user.name,
          password: passwords[user.name],
          admin: user.admin,
          deactivated: user.deactivated,
          ...(user.displayName ? { displayName: user.displayName } : {}),
        },
        { ...child, dependsOn: [admin] },
      );
    }
    this.passwords = pulumi.secret(pulumi.all(passwords));
    this.adminAccessToken = pulumi.secret(admin.accessToken);

    this.registerOutputs({
      adminUserId: this.adminUserId,
      adminPassword: this.adminPassword,
      passwords: this.passwords,
    });
  }
}
