// A program needs @pulumi/pulumi's resource model, not its function serializer, yet the SDK's
// index loads the serializer eagerly and with it TypeScript (runtime/closure/parseFunction.js, via
// typescript-shim.js), @npmcli/arborist and normalize-package-data (runtime/closure/codePaths.js):
// 0.6–0.7 s of the 1 s `require("@pulumi/pulumi")` costs on the 2-core machine, paid by every
// preview and up (test/e2e/bench/README.md#the-sdks-function-serializer-loads-on-first-use).
// Pulumi means TypeScript to load lazily (tsutils.js requires the shim inside a function "to avoid
// always loading" it); this does the same for those three eager requires. Each gets a stand-in
// that loads the real module on first use, so a program that does serialize a function
// (pulumi.runtime.serializeFunction, dynamic providers, computeCodePaths) gets exactly what it
// would have got.
//
// The stand-ins fit how 3.248.0's compiled JavaScript uses each module, so they apply to that
// version only: any other SDK version loads as usual, and a unit test fails when package.json
// pins another (test/deferSdkModules.test.ts).
"use strict";
const Module = require("node:module");
const path = require("node:path");

const SDK_VERSION = "3.248.0";

/** For each requiring SDK file: the request it makes at load time, and its stand-in given a loader of the real module. */
const STAND_INS = {
  // `const ts = require("../../typescript-shim")`, then only property reads (ts.createSourceFile,
  // ts.SyntaxKind, …) when a function is serialized.
  "runtime/closure/parseFunction.js": {
    "../../typescript-shim": (load) => new Proxy({}, { get: (_, key) => Reflect.get(load(), key), has: (_, key) => Reflect.has(load(), key) }),
  },
  // `__importStar(require("@npmcli/arborist"))` copies the module's own keys at load time, then
  // computeCodePaths does `new arborist.Arborist(...)`; a constructor that returns an object makes
  // `new` yield that object, the real Arborist.
  "runtime/closure/codePaths.js": {
    "@npmcli/arborist": (load) => ({ Arborist: function Arborist(options) { return new (load().Arborist)(options); } }),
    // `__importDefault(require("normalize-package-data")).default(data)`.
    "normalize-package-data": (load) => (...args) => load()(...args),
  },
};

function installStandIns() {
  let sdkDir;
  try {
    sdkDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  } catch {
    return false;
  }
  if (require(path.join(sdkDir, "package.json")).version !== SDK_VERSION) return false;
  const byParent = new Map(Object.entries(STAND_INS).map(([file, requests]) => [path.join(sdkDir, file), requests]));
  const require_ = Module.prototype.require;
  Module.prototype.require = function (request) {
    const standIn = byParent.get(this.filename)?.[request];
    if (standIn === undefined) return require_.apply(this, arguments);
    let real;
    return standIn(() => (real ??= require_.call(this, request)));
  };
  return true;
}

module.exports = { SDK_VERSION, installed: installStandIns() };
