/**
 * The input properties a resource accepts, read from its npm SDK's declaration file: the properties of
 * `export interface <Name>Args` in node_modules/<package>/<file>.d.ts. The SDK is the real provider's
 * published interface, so a stand-in that accepts exactly these accepts what the real one would.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export function sdkInputs(pkg: string, file: string, args: string): string[] {
  const text = readFileSync(join(__dirname, "..", "..", "..", "node_modules", pkg, `${file}.d.ts`), "utf8");
  const start = text.indexOf(`export interface ${args} {`);
  if (start < 0) throw new Error(`${pkg}/${file}.d.ts declares no ${args}`);
  const body = text.slice(start, text.indexOf("\n}", start));
  return [...body.matchAll(/^ {4}(\w+)\??: /gm)].map((m) => m[1]);
}

/** The version the SDK asks the engine for (package.json's pulumi.version). */
export function sdkVersion(pkg: string): string {
  const json = JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "node_modules", pkg, "package.json"), "utf8"));
  return (json as { pulumi: { version: string } }).pulumi.version;
}
