// Lets Node.js `require` this project's TypeScript: each .ts file is transpiled on load by esbuild
// (types removed, nothing checked; `npm run build` type-checks). Used where load time is paid on
// every deploy: the program's and the policy pack's entries (Pulumi.yaml `main`, infra/policy's
// package.json `main`) and `npm run deploy`. What it saves: test/e2e/bench/README.md.
//
// Why not ts-node: Pulumi's runners register their vendored ts-node 7 with type-checking
// (@pulumi/pulumi cmd/run/run.js unless tsconfig says `noCheck`; cmd/run-policy-pack/run.js
// always), a TypeScript language service over every .d.ts the code imports. Registered after it,
// this handler replaces ts-node's for `.ts`. Why not tsx: its hooks also inspect every .js file
// that loads (the 770 modules of @pulumi/pulumi included) and turn on Node's source maps for all
// of them, seconds on the 2-core machine. Only .ts files pass through here.
//
// Each file carries an inline source map: run with NODE_OPTIONS=--enable-source-maps for stack
// traces in TypeScript lines (off by default: Node then also parses every dependency's map).
"use strict";
const { readFileSync } = require("node:fs");
const path = require("node:path");
const { transformSync } = require("esbuild");

// The compiler options esbuild honours (target, strict, useDefineForClassFields, …) from the
// project's own tsconfig.json, so that the output means what `tsc` would emit.
const tsconfigRaw = JSON.parse(readFileSync(path.join(__dirname, "..", "tsconfig.json"), "utf8"));

require.extensions[".ts"] = (module, filename) => {
  const source = readFileSync(filename, "utf8");
  const { code } = transformSync(source, { loader: "ts", format: "cjs", target: `node${process.versions.node}`, sourcefile: filename, sourcemap: "inline", tsconfigRaw });
  module._compile(code, filename);
};
