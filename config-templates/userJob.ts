/**
 * The user job: a short Python program (userJob.py) run in a one-shot container from the Synapse image
 * on the internal network, so user management never needs `/_synapse/admin` to be reachable from
 * outside. It reads one job (JSON) from its environment, speaks to Synapse's internal URL, prints one
 * JSON line without secrets, and exits with a code from USER_JOB_EXIT.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HOSTS, PORTS } from "./paths";

export const USER_JOB_ENV = "FIRMGROUND_USER_JOB";

export type UserJobAction = "ensure" | "add" | "reset-password" | "deactivate" | "list";

/** What the job is told; `password` is the user's, `adminPassword` logs the admin in for updates. */
export interface UserJob {
  action: UserJobAction;
  serverName: string;
  sharedSecret: string;
  adminUser: string;
  adminPassword: string;
  /**
   * The admin's access token, kept in the stack: used instead of logging in, since Synapse allows an
   * account (and an address) only a few logins before rate-limiting it for minutes. A password login
   * is the fallback when the token is refused.
   */
  adminToken?: string;
  /** Return an access token of the (admin) account this job ensured, for the stack to keep. */
  returnToken?: boolean;
  username?: string;
  password?: string;
  admin?: boolean;
  displayName?: string;
  /** With `ensure`: the account should be deactivated (Synapse then also removes it from its rooms). */
  deactivated?: boolean;
  /** How long to wait for Synapse to answer (a first deploy starts it moments before). */
  waitSeconds: number;
}

export const USER_JOB_EXIT = {
  ok: 0,
  failed: 1,
  badSecret: 2,
  unreachable: 3,
  exists: 4,
  unknownUser: 5,
  adminLogin: 6,
  /** Not the script's: the container ended without the script's JSON answer. */
  noAnswer: 7,
} as const;

export const SYNAPSE_INTERNAL_URL = `http://${HOSTS.synapse}:${PORTS.synapse}`;

/**
 * The job's Python (userJob.py beside this file, checked by pyflakes in the tests), read once when this
 * module loads: the MatrixUser provider is serialized with the text itself, not with a path to it.
 */
const USER_JOB_SCRIPT = readFileSync(join(__dirname, "userJob.py"), "utf8");

export function renderUserJobScript(): string {
  return USER_JOB_SCRIPT;
}
