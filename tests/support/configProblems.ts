import { ConfigError, parseSettings } from "../../components/config";

/** The problems parseSettings reports for `raw` with `secretKeys` set encrypted, or [] when it accepts it. */
export function configProblems(raw: Record<string, string>, secretKeys: string[]): string[] {
  try {
    parseSettings(raw, secretKeys);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems;
  }
}
