/**
 * infra/deferSdkModules.js: the program and the policy pack load @pulumi/pulumi without its function
 * serializer's TypeScript and npm libraries, and a program that does serialize still gets exactly
 * what it would have got. Each case runs in a fresh Node.js process, as `pulumi up` does.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..");
const DEFERRED = ["typescript", "@npmcli/arborist", "normalize-package-data"];

/** Runs `script` in a fresh node in `cwd` and returns what it printed as JSON on its last line. */
function probe(script: string, cwd = ROOT): unknown {
  const run = spawnSync(process.execPath, ["-e", script], { cwd, encoding: "utf8", env: { ...process.env, ROOT } });
  if (run.status !== 0) throw new Error(`probe exited ${run.status}:\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split("\n").pop()!);
}

/** The deferred libraries present in the probe's module cache, as a JSON expression. */
const LOADED = `${JSON.stringify(DEFERRED)}.filter((name) => Object.keys(require.cache).some((file) => file.includes("/node_modules/" + name + "/")))`;

describe("@pulumi/pulumi's function serializer loads on first use", () => {
  test("package.json pins the SDK version the stand-ins were written for", () => {
    // A different version loads as usual (slower, still correct); this is the reminder to re-read
    // its runtime/closure/*.js and move SDK_VERSION with it.
    const pinned = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).dependencies["@pulumi/pulumi"];
    const hook = probe(`const { SDK_VERSION, installed } = require(process.env.ROOT + "/infra/deferSdkModules.js"); console.log(JSON.stringify({ SDK_VERSION, installed }));`);
    expect(hook).toEqual({ SDK_VERSION: pinned, installed: true });
  });

  test("the program's entry loads the program and the SDK without TypeScript, arborist or normalize-package-data", () => {
    const loaded = probe(`require(process.env.ROOT + "/infra/entry.js"); require("@pulumi/kubernetes"); console.log(JSON.stringify(${LOADED}));`);
    expect(loaded).toEqual([]);
  });

  test("the policy pack's entry loads the pack without them too", () => {
    // The pack starts serving the engine once loaded; the probe exits before that.
    const loaded = probe(`require(process.env.ROOT + "/infra/policy/entry.js"); console.log(JSON.stringify(${LOADED})); process.exit(0);`);
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
          `${defer ? `require(process.env.ROOT + "/infra/deferSdkModules.js");` : ""}
          const pulumi = require(require.resolve("@pulumi/pulumi", { paths: [process.env.ROOT] }));
          const offset = 41;
          class Base { value() { return offset; } }
          class Derived extends Base { value() { return super.value() + 1; } }
          (async () => {
            const serialized = await pulumi.runtime.serializeFunction(() => new Derived().value());
            const fromPackageFile = await pulumi.runtime.computeCodePaths();
            const withPackages = await pulumi.runtime.computeCodePaths({ extraIncludePackages: ["first"] });
            console.log(JSON.stringify({ text: serialized.text, fromPackageFile: [...fromPackageFile.keys()], withPackages: [...withPackages.keys()], loaded: ${LOADED} }));
          })().catch((e) => { console.error(e); process.exit(1); });`,
          project,
        ) as { text: string; fromPackageFile: string[]; withPackages: string[]; loaded: string[] };
      const plain = serialize(false);
      const deferred = serialize(true);
      // TypeScript rewrote `super` (runtime/closure/rewriteSuper.js), through the shim's stand-in.
      expect(deferred.text).toContain("__super.prototype.value.call(this) + 1");
      expect(deferred.withPackages).toEqual(expect.arrayContaining(["node_modules/first", "node_modules/second"]));
      expect({ ...deferred, loaded: undefined }).toEqual({ ...plain, loaded: undefined });
      // Loaded on use: the stand-ins did hand over to the real modules.
      expect(deferred.loaded.sort()).toEqual([...DEFERRED].sort());
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
