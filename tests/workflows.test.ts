/**
 * The GitHub workflows say what the README says: pull requests run the tests and preview both stacks
 * with the policy pack, commenting on the PR, with least permissions; main deploys staging, then prod
 * behind an approval environment. (Their schema is checked by `npm run lint:workflows`.)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  "runs-on": string | string[];
  if?: string;
  needs?: string | string[];
  environment?: string;
  steps: Step[];
  strategy?: { matrix: Record<string, unknown> };
}
interface Workflow {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, Job>;
}

const load = (file: string) =>
  YAML.parse(fs.readFileSync(path.join(__dirname, "..", ".github/workflows", file), "utf8")) as Workflow;
const pulumiStep = (job: Job) => job.steps.find((s) => s.uses?.startsWith("pulumi/actions@"))!;

test("every action is pinned to a major version at least; no floating branch", () => {
  for (const file of fs.readdirSync(path.join(__dirname, "..", ".github/workflows"))) {
    for (const job of Object.values(load(file).jobs)) {
      for (const step of job.steps.filter((s) => s.uses)) expect(step.uses).toMatch(/@(v\d+|[0-9a-f]{40})$/);
    }
  }
});

test("pull requests: tests, then a preview of staging and prod with the policy pack, commented on the PR", () => {
  const workflow = load("pull-request.yml");
  expect(Object.keys(workflow.on)).toEqual(["pull_request"]);
  expect(workflow.permissions).toEqual({ contents: "read", "pull-requests": "write" });
  expect(workflow.jobs.test.steps.map((s) => s.run).filter(Boolean)).toEqual([
    expect.stringContaining(
      "apt-get install -y -q --no-install-recommends shellcheck nginx-light cloud-init python3 pyflakes3",
    ),
    "npm ci",
    "npm run lint",
    "npm run build",
    "npm run unit",
  ]);
  const preview = workflow.jobs.preview;
  expect(preview.needs).toBe("test");
  expect(preview.strategy!.matrix.stack).toEqual(["staging", "prod"]);
  const step = pulumiStep(preview);
  expect(step.with).toMatchObject({ command: "preview", "comment-on-pr": true, policyPacks: "policy" });
  expect(step.with!.policyPackConfigs).toBe("policy/policy-config.${{ matrix.stack }}.json");
  for (const stack of ["staging", "prod"])
    expect(fs.existsSync(path.join(__dirname, "..", `policy/policy-config.${stack}.json`))).toBe(true);
  // Credentials come from repository secrets, never from the file.
  for (const value of Object.values(step.env!)) expect(value).toMatch(/^\$\{\{ secrets\.[A-Z_]+ \}\}$/);
});

test("main: pulumi up for staging, then prod behind the production environment's approval", () => {
  const workflow = load("deploy.yml");
  expect(workflow.on).toEqual({ push: { branches: ["main"] } });
  expect(workflow.permissions).toEqual({ contents: "read" });
  expect(pulumiStep(workflow.jobs.staging).with).toMatchObject({
    command: "up",
    "stack-name": "${{ vars.PULUMI_ORG }}/staging",
  });
  const prod = workflow.jobs.prod;
  expect(prod.needs).toBe("staging");
  expect(prod.environment).toBe("production");
  expect(pulumiStep(prod).with).toMatchObject({ command: "up", policyPackConfigs: "policy/policy-config.prod.json" });
});

/**
 * A job that runs pulumi for a stack talks to that stack's Docker API, which its security group opens to
 * adminCidrs only; prod's policy forbids anything else. Such a job must run on the self-hosted runner
 * (whose address is in adminCidrs), never on GitHub's, and pull requests from forks must not reach it.
 */
describe("where pulumi runs can reach the host's Docker API", () => {
  const ROOT = path.join(__dirname, "..");
  const stackOf = (job: Job, stack: string) =>
    stack === "${{ matrix.stack }}" ? (job.strategy!.matrix.stack as string[]) : [stack];
  const restricted = (stack: string) => {
    const config = YAML.parse(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8")).config ?? {};
    const policy = JSON.parse(fs.readFileSync(path.join(ROOT, `policy/policy-config.${stack}.json`), "utf8"));
    return (
      (config["firmground:adminCidrs"] ?? []).length > 0 ||
      policy["security-group-drops-by-default"]?.restrictAdminPorts
    );
  };
  const jobs = ["pull-request.yml", "deploy.yml"].flatMap((file) =>
    Object.entries(load(file).jobs)
      .filter(([, job]) => pulumiStep(job))
      .map(([name, job]) => ({ file, name, job, trigger: Object.keys(load(file).on)[0] })),
  );

  test("prod's policy requires closed admin ports, and prod sets adminCidrs", () => {
    expect(restricted("prod")).toBe(true);
  });

  test.each(jobs.map((j) => [`${j.file} ${j.name}`, j]))("%s", (_label, { job, trigger }) => {
    const stacks = stackOf(job, String(pulumiStep(job).with!["stack-name"]).split("/").pop()!);
    expect(stacks.length).toBeGreaterThan(0);
    if (stacks.some(restricted)) expect([job["runs-on"]].flat()).toEqual(["self-hosted", "firmground"]);
    if ([job["runs-on"]].flat().includes("self-hosted") && trigger === "pull_request") {
      expect(job.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
    }
  });
});
