/**
 * Runs one user job (config-templates/userJob.ts) in a one-shot container and turns its answer into a
 * result or an error that says what went wrong. Shared by the MatrixUser resource and `npm run user`.
 */
import { renderUserJobScript, USER_JOB_ENV, USER_JOB_EXIT, type UserJob } from "../../config-templates/userJob";
import { runOneShot, type DockerConnection } from "./dockerApi";

/** Where the job runs: the Docker daemon, the Synapse image (it has Python) and the internal network. */
export interface JobTarget {
  connection: DockerConnection;
  image: string;
  network: string;
}

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

export class UserJobError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export async function runUserJob(target: JobTarget, job: UserJob): Promise<UserJobResult> {
  const run = await runOneShot(target.connection, {
    image: target.image,
    network: target.network,
    cmd: ["python3", "-c", renderUserJobScript()],
    env: [`${USER_JOB_ENV}=${JSON.stringify(job)}`],
    timeoutSeconds: job.waitSeconds + 120,
  });
  const last = run.stdout.trim().split("\n").pop() ?? "";
  let answer: UserJobResult;
  try {
    answer = JSON.parse(last) as UserJobResult;
  } catch {
    throw new UserJobError(
      `user job (${job.action}) exited ${run.exitCode} without an answer: ${`${run.stdout}${run.stderr}`.trim().slice(-500)}`,
      run.exitCode || USER_JOB_EXIT.failed,
    );
  }
  if (!answer.ok) throw new UserJobError(answer.error ?? `user job (${job.action}) failed`, answer.code);
  return answer;
}
