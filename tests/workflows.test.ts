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
