/**
 * `npm run doctor -- [--stack S] [--json] [--ca-file F]`: checks a live server from the outside and,
 * through the host's Docker API, from the inside; prints PASS/WARN/FAIL per check with the fix for each
 * WARN and FAIL. Exit 0 only when nothing fails.
 *
 * The intended state comes from `pulumi stack output doctorPlan --json` (or FIRMGROUND_DOCTOR_PLAN,
 * that output's JSON); the Docker connection and the admin's token from the userAdmin output, as
 * `npm run user` reads it (or FIRMGROUND_USER_ADMIN).
 */
import { readFileSync } from "node:fs";
import { parseCommandLine, readStackOutput, runCommandLine, UsageError } from "../commandLine";
import { loadUserAdmin } from "../users/cli";
import { runDoctor, type DoctorAccess } from "./doctor";
import { exitCode, formatReport } from "./findings";
import type { DoctorPlan } from "./plan";

export const USAGE = `usage: npm run doctor -- [--stack <name>] [--json] [--ca-file <pem>]
  Checks the live server: DNS, TLS on 443/8448/5349, /.well-known/matrix, federation as another server
  sees it, a real TURN allocation and relay, what is exposed, sliding sync, and through the host's Docker
  API every container's state and memory, the data volume, the last backup and the running versions.
  Prints PASS/WARN/FAIL with the fix for each WARN and FAIL; exits 0 only when nothing FAILs.
options:
  --stack <name>    the Pulumi stack to read (default: the selected stack)
  --json            print the report as JSON (its schema is in the README)
  --ca-file <pem>   also trust this CA (the local target's localCaCertPem)
  -h, --help        this text
Without the Pulumi CLI, set FIRMGROUND_DOCTOR_PLAN to \`pulumi stack output doctorPlan --json\` and
FIRMGROUND_USER_ADMIN to \`pulumi stack output userAdmin --json --show-secrets\`.`;

function loadPlan(stack: string | undefined, env: NodeJS.ProcessEnv): DoctorPlan {
  if (env.FIRMGROUND_DOCTOR_PLAN) return JSON.parse(env.FIRMGROUND_DOCTOR_PLAN) as DoctorPlan;
  return readStackOutput<DoctorPlan>("doctorPlan", {
    stack,
    secret: false,
    otherwise: "without the Pulumi CLI, set FIRMGROUND_DOCTOR_PLAN to that output's JSON",
  });
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<number> {
  const { values } = parseCommandLine(argv, USAGE, {
    stack: { type: "string" },
    json: { type: "boolean" },
    "ca-file": { type: "string" },
  });
  const plan = loadPlan(values.stack, env);
  let access: DoctorAccess = {};
  try {
    const admin = loadUserAdmin(values.stack ? { stack: values.stack } : {}, env);
    access = {
      connection: admin.connection,
      adminUser: admin.adminUser,
      adminPassword: admin.adminPassword,
      ...(admin.adminToken ? { adminToken: admin.adminToken } : {}),
    };
  } catch (error) {
    // The outside checks still run; the inside ones report what is missing.
    if (!(error instanceof UsageError)) throw error;
  }
  const caFile = values["ca-file"];
  const trust = caFile ? { ca: [readFileSync(caFile, "utf8")] } : {};
  const report = await runDoctor(plan, access, trust);
  if (values.json) print(JSON.stringify(report, null, 2));
  else for (const line of formatReport(report)) print(line);
  return exitCode(report.findings);
}

if (require.main === module) runCommandLine(main);
