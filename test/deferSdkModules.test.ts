/**
 * infra/deferSdkModules.js: the program and the policy pack load @pulumi/pulumi without its function
 * serializer's TypeScript and npm libraries wherever the SDK's compiled files still load them the way
 * the stand-ins were written for, a program that does serialize still gets exactly what it would have
 * got, and anywhere else the SDK loads as usual, silently. Nothing here names an SDK version: the
 * installed one is checked for what the stand-ins do to it, fake ones for the fallback. Each case
 * runs in a fresh Node.js process, as `pulumi up` does.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..");
const HOOK = `require(process.env.ROOT + "/infra/deferSdkModules.js")`;

/** Runs `script` in a fresh node in `cwd`; what it printed as JSON on its last line, and its stderr. */
function run(script: string, cwd = ROOT): { result: unknown; stderr: string } {
  const child = spawnSync(process.execPath, ["-e", script], { cwd, encoding: "utf8", env: { ...process.env, ROOT } });
  if (child.status !== 0) throw new Error(`probe exited ${child.status}:\n${child.stderr}`);
  return { result: JSON.parse(child.stdout.trim().split("\n").pop()!), stderr: child.stderr };
}
const probe = (script: string, cwd = ROOT) => run(script, cwd).result;

/** A JSON expression: the names of `modules` that are in the probe's module cache. */
const loadedOf = (modules: string) =>
  `${modules}.filter((name) => Object.keys(require.cache).some((file) => file.includes("/node_modules/" + name + "/")))`;
/** A JSON expression: the module each applied stand-in defers (typescript-shim.js loads typescript). */
const DEFERRED = `${HOOK}.applied.map((s) => s.split(" → ")[1]).map((r) => (r.endsWith("typescript-shim") ? "typescript" : r))`;

describe("@pulumi/pulumi's function serializer loads on first use, where the installed SDK allows", () => {
  test("the program's entry loads the program and the SDK without the modules whose stand-ins applied", () => {
    const { applied, loaded } = probe(
      `require(process.env.ROOT + "/infra/entry.js"); require("@pulumi/kubernetes");
      console.log(JSON.stringify({ applied: ${HOOK}.applied, loaded: ${loadedOf(DEFERRED)} }));`,
    ) as { applied: string[]; loaded: string[] };
    expect(applied.every((s) => / → /.test(s))).toBe(true);
    expect(loaded).toEqual([]);
  });

  test("the policy pack's entry loads the pack without them too", () => {
    // The pack starts serving the engine once loaded; the probe exits before that.
    const loaded = probe(`require(process.env.ROOT + "/infra/policy/entry.js"); console.log(JSON.stringify(${loadedOf(DEFERRED)})); process.exit(0);`);
    expect(loaded).toEqual([]);
  });

  test("serializeFunction and computeCodePaths give the same result with the stand-ins as without", () => {
    // A tiny project as computeCodePaths' working directory: one dependency with one of its own.
    const project = mkdtempSync(path.join(tmpdir(), "mogi-defer-"));
    try {
      const pkg = (dir: string, json: object) => {
        mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, "package.json"), JSON.stringify(json));
        writeFileSync(path.join(dir, "index.js"), "module.exports = 1;\n");
      };
      pkg(project, { name: "probe", version: "1.0.0", dependencies: { first: "1.0.0" } });
      pkg(path.join(project, "node_modules", "first"), { name: "first", version: "1.0.0", dependencies: { second: "1.0.0" } });
      pkg(path.join(project, "node_modules", "second"), { name: "second", version: "1.0.0" });
      const serialize = (defer: boolean) =>
        probe(
          `const deferred = ${defer ? DEFERRED : "[]"};
          const pulumi = require(require.resolve("@pulumi/pulumi", { paths: [process.env.ROOT] }));
          const loadedAtLoad = ${loadedOf("deferred")};
          const offset = 41;
          class Base { value() { return offset; } }
          class Derived extends Base { value() { return super.value() + 1; } }
          (async () => {
            const serialized = await pulumi.runtime.serializeFunction(() => new Derived().value());
            const fromPackageFile = await pulumi.runtime.computeCodePaths();
            const withPackages = await pulumi.runtime.computeCodePaths({ extraIncludePackages: ["first"] });
            console.log(JSON.stringify({ text: serialized.text, fromPackageFile: [...fromPackageFile.keys()], withPackages: [...withPackages.keys()], deferred, loadedAtLoad, loadedAfterUse: ${loadedOf("deferred")} }));
          })().catch((e) => { console.error(e); process.exit(1); });`,
          project,
        ) as { text: string; fromPackageFile: string[]; withPackages: string[]; deferred: string[]; loadedAtLoad: string[]; loadedAfterUse: string[] };
      const plain = serialize(false);
      const deferred = serialize(true);
      // TypeScript rewrote `super` (runtime/closure/rewriteSuper.js), through the shim's stand-in if it applied.
      expect(deferred.text).toContain("__super.prototype.value.call(this) + 1");
      expect(deferred.withPackages).toEqual(expect.arrayContaining(["node_modules/first", "node_modules/second"]));
      expect({ text: deferred.text, fromPackageFile: deferred.fromPackageFile, withPackages: deferred.withPackages }).toEqual({
        text: plain.text,
        fromPackageFile: plain.fromPackageFile,
        withPackages: plain.withPackages,
      });
      // Not loaded with the SDK, loaded on use: the stand-ins did hand over to the real modules.
      expect(deferred.loadedAtLoad).toEqual([]);
      expect(deferred.loadedAfterUse.sort()).toEqual([...deferred.deferred].sort());
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});

describe("an SDK whose files load or use those modules otherwise loads as usual, silently", () => {
  // A fake @pulumi/pulumi with the two files the stand-ins are for, and fake modules they load.
  const js = (body: string) => `"use strict";\n${body}\n`;
  const FITS = {
    parseFunction: `const ts = require("../../typescript-shim");\nexports.kind = () => ts.SyntaxKind.SuperKeyword;`,
    codePaths:
      `var __importDefault = (this && this.__importDefault) || function (mod) { return (mod && mod.__esModule) ? mod : { "default": mod }; };\n` +
      `const normalize_package_data_1 = __importDefault(require("normalize-package-data"));\n` +
      `exports.normalize = (data) => { normalize_package_data_1.default(data); return data; };`,
  };
  const TS = "runtime/closure/parseFunction.js → ../../typescript-shim";
  const NORMALIZE = "runtime/closure/codePaths.js → normalize-package-data";
  /** Changes to one file: the stand-in that still applies, and what the SDK's files then load as they load. */
  const OTHERWISE: Record<string, { change: { parseFunction?: string; codePaths?: string }; applied: string[]; loadedAtLoad: string[] }> = {
    "the binding escapes (not only property reads)": {
      change: { parseFunction: `const ts = require("../../typescript-shim");\nexports.kind = () => ts.SyntaxKind.SuperKeyword;\nexports.ts = ts;` },
      applied: [NORMALIZE],
      loadedAtLoad: ["typescript"],
    },
    "loaded lazily, inside a function": {
      change: { parseFunction: `exports.kind = () => { const ts = require("../../typescript-shim"); return ts.SyntaxKind.SuperKeyword; };` },
      applied: [NORMALIZE],
      loadedAtLoad: [],
    },
    "loaded without __importDefault": {
      change: { codePaths: `const npd = require("normalize-package-data");\nexports.normalize = (data) => { npd(data); return data; };` },
      applied: [TS],
      loadedAtLoad: ["normalize-package-data"],
    },
    "the file is gone": { change: { codePaths: "" }, applied: [TS], loadedAtLoad: [] },
  };

  function fakeSdk(files: { parseFunction: string; codePaths: string }): string {
    const dir = mkdtempSync(path.join(tmpdir(), "mogi-defer-fake-"));
    const write = (file: string, content: string) => {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), content);
    };
    const sdk = "node_modules/@pulumi/pulumi";
    write(`${sdk}/package.json`, JSON.stringify({ name: "@pulumi/pulumi", version: "0.0.0-fake" }));
    write(`${sdk}/typescript-shim.js`, `module.exports = require("typescript");\n`);
    write(`${sdk}/runtime/closure/parseFunction.js`, js(files.parseFunction));
    if (files.codePaths !== "") write(`${sdk}/runtime/closure/codePaths.js`, js(files.codePaths));
    write("node_modules/typescript/package.json", JSON.stringify({ name: "typescript", version: "0.0.0-fake" }));
    write("node_modules/typescript/index.js", `module.exports = { SyntaxKind: { SuperKeyword: 108 } };\n`);
    write("node_modules/normalize-package-data/package.json", JSON.stringify({ name: "normalize-package-data", version: "0.0.0-fake" }));
    write("node_modules/normalize-package-data/index.js", `module.exports = (data) => { data.normalized = true; };\n`);
    return dir;
  }

  /** Installs the stand-ins into the fake SDK, then loads and uses its two files. */
  function loadFake(dir: string) {
    return run(
      `const Module = require("node:module");
      const { install } = ${HOOK};
      const before = Module.prototype.require;
      const sdk = require("node:path").join(process.cwd(), "node_modules/@pulumi/pulumi");
      const applied = install(sdk);
      const hooked = Module.prototype.require !== before;
      const modules = JSON.stringify(["typescript", "normalize-package-data"]);
      const parseFunction = require(sdk + "/runtime/closure/parseFunction.js");
      let codePaths;
      // Where the file is gone, the SDK would load the module from somewhere else.
      try { codePaths = require(sdk + "/runtime/closure/codePaths.js"); } catch { codePaths = { normalize: (data) => { require("normalize-package-data")(data); return data; } }; }
      const loadedAtLoad = ${loadedOf("JSON.parse(modules)")};
      const results = { kind: parseFunction.kind(), data: codePaths.normalize({ name: "x" }) };
      console.log(JSON.stringify({ applied, hooked, loadedAtLoad, results, loadedAfterUse: ${loadedOf("JSON.parse(modules)")} }));`,
      dir,
    );
  }

  const RESULTS = { kind: 108, data: { name: "x", normalized: true } };

  test("in the shapes the stand-ins were written for, they apply: nothing loads until used, then the real results", () => {
    const dir = fakeSdk(FITS);
    try {
      const { result, stderr } = loadFake(dir);
      expect(result).toEqual({
        applied: [TS, NORMALIZE],
        hooked: true,
        loadedAtLoad: [],
        results: RESULTS,
        loadedAfterUse: ["typescript", "normalize-package-data"],
      });
      expect(stderr).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each(Object.entries(OTHERWISE))("%s: that stand-in does not apply, the SDK's own require goes through", (_, expected) => {
    const dir = fakeSdk({ ...FITS, ...expected.change });
    try {
      const { result, stderr } = loadFake(dir);
      expect(result).toEqual({ applied: expected.applied, hooked: true, loadedAtLoad: expected.loadedAtLoad, results: RESULTS, loadedAfterUse: ["typescript", "normalize-package-data"] });
      expect(stderr).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("when nothing fits, nothing is hooked", () => {
    const dir = fakeSdk({ ...FITS, ...OTHERWISE["the binding escapes (not only property reads)"].change, ...OTHERWISE["loaded without __importDefault"].change });
    try {
      const { result, stderr } = loadFake(dir);
      expect(result).toMatchObject({ applied: [], hooked: false, loadedAtLoad: ["typescript", "normalize-package-data"], results: RESULTS });
      expect(stderr).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
