/**
 * `npm run user -- <command>`: one-off user operations against a deployed stack, through the same
 * one-shot user job `pulumi up` uses (so /_synapse/admin never has to be reachable from here).
 *
 *   npm run user -- add <name> [--admin] [--display-name "Ann"]
 *   npm run user -- reset-password <name>
 *   npm run user -- deactivate <name>
 *   npm run user -- list
 *
 * What it needs (Docker daemon, keys, shared secret, admin login) comes from
 * `pulumi stack output userAdmin --json --show-secrets` (add `--stack <name>`), or, without the Pulumi
 * CLI, from FIRMGROUND_USER_ADMIN (that output's JSON) or from flags and environment variables:
 * --docker-host, --docker-cert-path (ca.pem, cert.pem, key.pem), --server-name, --admin-user,
 * FIRMGROUND_REGISTRATION_SECRET and FIRMGROUND_ADMIN_PASSWORD. New passwords come from
 * FIRMGROUND_USER_PASSWORD or are generated and printed once.
 */
import { parseCommandLine, readStackOutput, runCommandLine, UsageError } from "../commandLine";
import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MIN_PASSWORD_LENGTH } from "../config";
import { DEFAULT_IMAGES } from "../services/registry";
import { USER_JOB_EXIT, type UserJob, type UserJobAction } from "../../config-templates/userJob";
import { isDockerApiError } from "../dockerApi";
import type { MatrixUserInputs } from "./matrixUser";
import { isUserJobError, runUserJob, type JobTarget } from "./userJobs";

/** The `userAdmin` stack output: what a MatrixUser knows about reaching the server and its admin. */
export type UserAdmin = Pick<
  MatrixUserInputs,
  "connection" | "image" | "network" | "serverName" | "sharedSecret" | "adminUser" | "adminPassword" | "adminToken"
>;

const COMMANDS: Record<string, { action: UserJobAction; needsName: boolean; newPassword: boolean }> = {
  add: { action: "add", needsName: true, newPassword: true },
  "reset-password": { action: "reset-password", needsName: true, newPassword: true },
  deactivate: { action: "deactivate", needsName: true, newPassword: false },
  list: { action: "list", needsName: false, newPassword: false },
};

const OPTIONS = {
  admin: { type: "boolean" },
  "display-name": { type: "string" },
  stack: { type: "string" },
  "docker-host": { type: "string" },
  "docker-cert-path": { type: "string" },
  "server-name": { type: "string" },
  "admin-user": { type: "string" },
  image: { type: "string" },
  network: { type: "string" },
} as const;

export const USAGE = `usage: npm run user -- <command> [name] [options]
  add <name> [--admin] [--display-name "Ann"]   create a user; prints a generated password once
  reset-password <name>                         give a user a new password (FIRMGROUND_USER_PASSWORD or generated)
  deactivate <name>                             deactivate a user (erases nothing)
  list                                          list the users
options:
  --stack <name>            the Pulumi stack whose userAdmin output to use (default: the selected stack)
  --docker-host <url>       without the Pulumi CLI: the host's Docker API (tcp://host:2376), with
  --docker-cert-path <dir>  ca.pem, cert.pem, key.pem; --server-name, --admin-user, --image, --network;
                            FIRMGROUND_REGISTRATION_SECRET and FIRMGROUND_ADMIN_PASSWORD in the environment
  -h, --help                this text
Or set FIRMGROUND_USER_ADMIN to \`pulumi stack output userAdmin --json --show-secrets\`.`;

const HINTS: Partial<Record<number, string>> = {
  [USER_JOB_EXIT.badSecret]:
    "check the shared secret: it must be this stack's (pulumi stack output --show-secrets userAdmin)",
  [USER_JOB_EXIT.unreachable]: "Synapse is not answering on the host; check `docker ps` there",
  [USER_JOB_EXIT.exists]: "use reset-password to give it a new password",
  [USER_JOB_EXIT.unknownUser]: "list shows the users that exist",
  [USER_JOB_EXIT.adminLogin]: "set FIRMGROUND_ADMIN_PASSWORD to the admin's current password",
  [USER_JOB_EXIT.noAnswer]: "check the image (--image) is the stack's Synapse image and the host has memory free",
};

function generatedPassword(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
  return Array.from({ length: 24 }, () => alphabet[randomInt(alphabet.length)]).join("");
}

/** Where the settings come from, in order: FIRMGROUND_USER_ADMIN, flags/env, the Pulumi CLI. */
export function loadUserAdmin(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): UserAdmin {
  if (env.FIRMGROUND_USER_ADMIN) return JSON.parse(env.FIRMGROUND_USER_ADMIN) as UserAdmin;
  if (typeof values["docker-host"] === "string") {
    const missing = ["server-name"].filter((f) => typeof values[f] !== "string");
    if (!env.FIRMGROUND_REGISTRATION_SECRET) missing.push("FIRMGROUND_REGISTRATION_SECRET");
    if (!env.FIRMGROUND_ADMIN_PASSWORD) missing.push("FIRMGROUND_ADMIN_PASSWORD");
    if (missing.length) throw new UsageError(`with --docker-host, also give ${missing.join(", ")}`);
    const certPath = values["docker-cert-path"];
    return {
      connection: {
        host: values["docker-host"],
        ...(typeof certPath === "string"
          ? { tls: { ca: read(certPath, "ca.pem"), cert: read(certPath, "cert.pem"), key: read(certPath, "key.pem") } }
          : {}),
      },
      image: typeof values.image === "string" ? values.image : DEFAULT_IMAGES.synapse,
      network: typeof values.network === "string" ? values.network : "firmground",
      serverName: values["server-name"] as string,
      sharedSecret: env.FIRMGROUND_REGISTRATION_SECRET!,
      adminUser: typeof values["admin-user"] === "string" ? values["admin-user"] : "admin",
      adminPassword: env.FIRMGROUND_ADMIN_PASSWORD!,
    };
  }
  return readStackOutput<UserAdmin>("userAdmin", {
    ...(typeof values.stack === "string" ? { stack: values.stack } : {}),
    secret: true,
    otherwise:
      "without the Pulumi CLI, set FIRMGROUND_USER_ADMIN to that output's JSON, or pass --docker-host, --docker-cert-path, " +
      "--server-name with FIRMGROUND_REGISTRATION_SECRET and FIRMGROUND_ADMIN_PASSWORD.",
  });
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), "utf8");

/** Runs the command line; returns the process exit code and what to print. */
export async function main(argv: string[], env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, USAGE, OPTIONS, true);
  const [commandName, name, ...extra] = positionals;
  const command = COMMANDS[commandName ?? ""];
  if (!command) throw new UsageError(`unknown or missing command ${JSON.stringify(commandName ?? "")}\n${USAGE}`);
  if (command.needsName && !name) throw new UsageError(`${commandName} needs a user name\n${USAGE}`);
  if (extra.length > 0 || (!command.needsName && name))
    throw new UsageError(`unexpected argument ${JSON.stringify(extra[0] ?? name)}\n${USAGE}`);
  const password = command.newPassword ? (env.FIRMGROUND_USER_PASSWORD ?? generatedPassword()) : undefined;
  if (password !== undefined && password.length < MIN_PASSWORD_LENGTH) {
    throw new UsageError(`FIRMGROUND_USER_PASSWORD must have at least ${MIN_PASSWORD_LENGTH} characters`);
  }

  const settings = loadUserAdmin(values, env);
  const target: JobTarget = { connection: settings.connection, image: settings.image, network: settings.network };
  const job: UserJob = {
    action: command.action,
    serverName: settings.serverName,
    sharedSecret: settings.sharedSecret,
    adminUser: settings.adminUser,
    adminPassword: settings.adminPassword,
    ...(settings.adminToken ? { adminToken: settings.adminToken } : {}),
    waitSeconds: 30,
    ...(name ? { username: name } : {}),
    ...(password ? { password } : {}),
    ...(values.admin ? { admin: true } : {}),
    ...(values["display-name"] ? { displayName: values["display-name"] } : {}),
  };
  try {
    const result = await runUserJob(target, job);
    if (result.users) {
      for (const u of result.users)
        print(`${u.name}${u.admin ? "  admin" : ""}${u.deactivated ? "  deactivated" : ""}`);
    } else {
      print(`@${name}:${settings.serverName}: ${result.result}`);
      if (password && !env.FIRMGROUND_USER_PASSWORD) print(`password: ${password}  (shown once)`);
    }
    return 0;
  } catch (error) {
    if (isUserJobError(error)) {
      print(`error: ${error.message}${HINTS[error.code] ? ` (${HINTS[error.code]})` : ""}`);
      return error.code;
    }
    if (isDockerApiError(error)) {
      print(`error: cannot run the user job: ${error.message}`);
      return USER_JOB_EXIT.unreachable;
    }
    throw error;
  }
}

if (require.main === module) runCommandLine(main);
