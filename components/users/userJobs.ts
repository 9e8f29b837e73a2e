/**
 * Runs one user job (config-templates/userJob.ts) in a one-shot container and turns its answer into a
 * result or an error that says what went wrong. Shared by the MatrixUser resource and `npm run user`.
 *
 * Like dockerApi.ts, this runs inside the serialized MatrixUser provider: Node built-ins only, plain
 * Errors with a `code` (a USER_JOB_EXIT value), nothing captured from Pulumi or the stack's config.
 */
import {
  renderUserJobScript,
  SYNAPSE_INTERNAL_URL,
  USER_JOB_ENV,
  USER_JOB_EXIT,
  type UserJob,
} from "../../config-templates/userJob";
import { runOneShot, type DockerConnection } from "../dockerApi";

/** Where the job runs: the Docker daemon, the Synapse image (it has Python) and the internal network. */
export interface JobTarget {
  connection: DockerConnection;
  image: string;
  network: string;
}

/** A job needs Python and urllib only; its container is limited like every other. */
export const USER_JOB_MEMORY_MB = 128;

export interface UserJobResult {
  ok: boolean;
  code: number;
  result?: string;
  error?: string;
  /** Password logins the job made (0 when the kept admin token served). */
  passwordLogins?: number;
  /** With `returnToken`: an access token of the ensured account, for the stack to keep. */
  accessToken?: string;
  users?: { name: string; admin: boolean; deactivated: boolean; displayName?: string }[];
}

export const USER_JOB_ERROR = "UserJobError";

/** A job that ran and failed (`code` is its exit code), or gave no answer (USER_JOB_EXIT.noAnswer). */
export function userJobError(message: string, code: number): Error & { code: number } {
  return Object.assign(new Error(message), { name: USER_JOB_ERROR, code });
}

export const isUserJobError = (error: unknown): error is Error & { code: number } =>
  error instanceof Error && error.name === USER_JOB_ERROR;

export async function runUserJob(target: JobTarget, job: UserJob): Promise<UserJobResult> {
  const run = await runOneShot(target.connection, {
    image: target.image,
    network: target.network,
    // The image's ENTRYPOINT (the Synapse image's /start.py) would take "python3" for its mode.
    entrypoint: ["python3", "-c", renderUserJobScript()],
    cmd: [],
    // Where Synapse answers is the stack's fact, not the script's.
    env: [`${USER_JOB_ENV}=${JSON.stringify({ ...job, synapseUrl: SYNAPSE_INTERNAL_URL })}`],
    memoryMb: USER_JOB_MEMORY_MB,
    timeoutSeconds: job.waitSeconds + 120,
  });
  const last = run.stdout.trim().split("\n").pop() ?? "";
  let answer: UserJobResult | undefined;
  try {
    answer = JSON.parse(last) as UserJobResult;
  } catch {
    answer = undefined;
  }
  if (typeof answer?.ok !== "boolean" || typeof answer.code !== "number") {
    const output = `${run.stdout}${run.stderr}`.trim().slice(-500);
    throw userJobError(
      `the user job (${job.action}) in ${target.image} exited ${run.exitCode} without its answer; it did not run ` +
        `to the end (out of memory, killed, or not started as python3). Its output: ${output || "(none)"}`,
      USER_JOB_EXIT.noAnswer,
    );
  }
  if (!answer.ok) throw userJobError(answer.error ?? `user job (${job.action}) failed`, answer.code);
  return answer;
}
