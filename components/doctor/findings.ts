/**
 * What `npm run doctor` reports: one finding per check, each PASS, WARN or FAIL with what it saw and,
 * unless it passed, the fix. The JSON report (`--json`) is `DoctorReport`; its schema is in the README.
 */

export type Status = "pass" | "warn" | "fail";

export interface Finding {
  /** Stable id, `<group>.<subject>` (e.g. `tls.matrix.example.org:443`); the faults in the tests name them. */
  id: string;
  /** What is checked, in a few words. */
  title: string;
  status: Status;
  /** What the check saw (never a secret). */
  saw: string;
  /** For WARN and FAIL: the concrete next step. */
  fix?: string;
}

export interface DoctorReport {
  /** Schema version of this report. */
  version: 1;
  serverName: string;
  startedAt: string;
  seconds: number;
  counts: Record<Status, number>;
  /** One line: would federation work, as a remote server sees it. */
  federation: string;
  findings: Finding[];
}

export const pass = (id: string, title: string, saw: string): Finding => ({ id, title, status: "pass", saw });
export const warn = (id: string, title: string, saw: string, fix: string): Finding => ({
  id,
  title,
  status: "warn",
  saw,
  fix,
});
export const fail = (id: string, title: string, saw: string, fix: string): Finding => ({
  id,
  title,
  status: "fail",
  saw,
  fix,
});

export function counts(findings: Finding[]): Record<Status, number> {
  const result: Record<Status, number> = { pass: 0, warn: 0, fail: 0 };
  for (const f of findings) result[f.status] += 1;
  return result;
}

/** 0 when nothing failed, else 1. */
export const exitCode = (findings: Finding[]) => (findings.some((f) => f.status === "fail") ? 1 : 0);

/** The report as an operator reads it: one line per check, the fix indented under it. */
export function formatReport(report: DoctorReport): string[] {
  const lines = [`firmground doctor: ${report.serverName} (${report.startedAt})`, ""];
  for (const f of report.findings) {
    lines.push(`${f.status.toUpperCase().padEnd(4)}  ${f.title}: ${f.saw}`);
    if (f.fix) lines.push(`      fix: ${f.fix}`);
  }
  const { pass: p, warn: w, fail: x } = report.counts;
  lines.push("", `Federation: ${report.federation}`, `${p} passed, ${w} warnings, ${x} failed in ${report.seconds} s`);
  return lines;
}
