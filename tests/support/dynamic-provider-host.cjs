// Loads a serialized dynamic provider the way @pulumi/pulumi's cmd/dynamic-provider does (v3.248.0,
// getProvider: require-from-string on the state's text, then .handler()), in a plain Node.js process
// started in the project root, and runs one of its methods.
//
//   node tests/support/dynamic-provider-host.cjs <file with the serialized text>
//   stdin: {"method": "create" | "diff" | "update" | "delete", "args": [...]}
//   stdout: {"result": …} or {"error": {"name", "message", "code"}}
"use strict";
const { readFileSync } = require("node:fs");
const requireFromString = require("require-from-string");

const text = readFileSync(process.argv[2], "utf8");
const request = JSON.parse(readFileSync(0, "utf8"));
const provider = requireFromString(text).handler();

Promise.resolve()
  .then(() => provider[request.method](...request.args))
  .then(
    (result) => process.stdout.write(JSON.stringify({ result: result === undefined ? null : result })),
    (error) =>
      process.stdout.write(
        JSON.stringify({
          error: { name: error && error.name, message: error && error.message, code: error && error.code },
        }),
      ),
  );
