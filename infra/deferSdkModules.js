// A program needs @pulumi/pulumi's resource model, not its function serializer, yet the SDK's
// index loads the serializer eagerly and with it TypeScript (runtime/closure/parseFunction.js, via
// typescript-shim.js) and normalize-package-data (runtime/closure/codePaths.js): on 3.276.0 about
// 0.17 of the 0.29 s `require("@pulumi/pulumi")` costs on the 2-core machine, paid by every
// preview and up, by the policy pack and by `npm start` ("Deploy loop: where the time goes").
// Pulumi means TypeScript to load lazily (tsutils.js requires the shim inside a function "to avoid
// always loading" it); this does the same for those eager requires. Each gets a stand-in that
// loads the real module on first use, so a program that does serialize a function
// (pulumi.runtime.serializeFunction, dynamic providers, computeCodePaths) gets exactly what it
// would have got.
//
// Whatever the SDK version: a stand-in applies only where the SDK's compiled file still loads that
// module and uses it the way the stand-in was written for (read from the file when this loads);
// anywhere else the SDK's require goes through untouched, without a word. `applied` lists the
// stand-ins that did apply (test/deferSdkModules.test.ts).
"use strict";
const { readFileSync } = require("node:fs");
const Module = require("node:module");
const path = require("node:path");

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/**
 * The eager requires that get a stand-in: the requiring file (in the SDK's directory), the request
 * it makes at load time, the statement that must load it (capturing the variable it lands in), the
 * only use that variable may have after it, and the stand-in given a loader of the real module.
 */
const STAND_INS = [
  {
    // `const ts = require("../../typescript-shim")`, then only property reads (ts.createSourceFile,
    // ts.SyntaxKind, …) when a function is serialized.
    file: "runtime/closure/parseFunction.js",
    request: "../../typescript-shim",
    loads: String.raw`^const (\w+) = require\("\.\./\.\./typescript-shim"\);$`,
    use: ".",
    standIn: (load) => new Proxy({}, { get: (_, key) => Reflect.get(load(), key), has: (_, key) => Reflect.has(load(), key) }),
  },
  {
    // `__importDefault(require("normalize-package-data"))`, which wraps a module without
    // `__esModule` as `{ default: module }`, then only calls: `….default(data)`.
    file: "runtime/closure/codePaths.js",
    request: "normalize-package-data",
    loads: String.raw`^const (\w+) = __importDefault\(require\("normalize-package-data"\)\);$`,
    use: ".default(",
    standIn: (load) => (...args) => load()(...args),
  },
];

/** The stand-ins that fit the SDK in `sdkDir`: its file loads the module as expected and uses it only as expected. */
function fitting(sdkDir) {
  return STAND_INS.filter(({ file, loads, use }) => {
    let source;
    try {
      source = readFileSync(path.join(sdkDir, file), "utf8");
    } catch {
      return false;
    }
    const declarations = [...source.matchAll(new RegExp(loads, "gm"))];
    if (declarations.length !== 1) return false;
    const name = escape(declarations[0][1]);
    const mentions = source.match(new RegExp(String.raw`\b${name}\b`, "g")).length;
    const uses = (source.match(new RegExp(String.raw`\b${name}${escape(use)}`, "g")) ?? []).length;
    return mentions === 1 + uses;
  });
}

/**
 * Gives the SDK in `sdkDir` the stand-ins that fit it; returns them as "<file> → <request>"
 * (empty, and nothing hooked, when none fits).
 */
function install(sdkDir) {
  const fits = fitting(sdkDir);
  if (fits.length === 0) return [];
  const byParent = new Map();
  for (const { file, request, standIn } of fits) {
    const parent = path.join(sdkDir, file);
    byParent.set(parent, { ...byParent.get(parent), [request]: standIn });
  }
  const require_ = Module.prototype.require;
  Module.prototype.require = function (request) {
    const standIn = byParent.get(this.filename)?.[request];
    if (standIn === undefined) return require_.apply(this, arguments);
    let real;
    return standIn(() => (real ??= require_.call(this, request)));
  };
  return fits.map(({ file, request }) => `${file} → ${request}`);
}

function sdkDirectory() {
  try {
    return path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  } catch {
    return undefined;
  }
}

const sdkDir = sdkDirectory();
module.exports = { install, applied: sdkDir === undefined ? [] : install(sdkDir) };
