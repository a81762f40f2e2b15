/**
 * `npm run engines`: builds the real engines the e2e tier runs (Consul, the Pulumi CLI and
 * language host, the providers, etcd, the Kubernetes control plane) from their published Go
 * modules, one small module of ours per binary (test/engines/<binary>/: go.mod, go.sum,
 * engine.json, and a main.go of our own only where the upstream command cannot be built).
 *
 * Idempotent: a binary whose inputs (go.mod, go.sum, our Go files, engine.json, the Go version)
 * are unchanged since it was built is kept. Licences are checked in the module cache before
 * anything is built. A binary that fails does not stop the others; the run then exits 1.
 * Binaries go to $MOGI_ENGINES_DIR/bin (default .engines/bin), never into git.
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { ENGINE_SOURCES, enginesBinDir } from "./paths";
import { CommandIO, CommandLine, consoleIO, parseCommandLine, runAsScript, UsageError } from "../../infra/cli";

const execFileAsync = promisify(execFile);

export interface EngineManifest {
  binary: string;
  /** Package to build: an upstream command, or "." for our own main.go. */
  package: string;
  /** The upstream release this binary stands for. */
  version: string;
  /** -X flags for -ldflags. */
  xflags?: Record<string, string>;
  /** Checked in the module cache before building; a mismatch refuses the build. */
  licence: { module: string; file: string; mustMatch: string }[];
  /** Files copied from the module cache into <engine dir>/embed/ before building. */
  embed?: { module: string; file: string; as: string; setVersion?: boolean }[];
  /** Arguments that make the binary print its version; otherwise the build info is read. */
  versionArgs?: string[];
  /** Other engines this one runs at run time (built with it when only it is asked for). */
  requires?: string[];
  /**
   * More upstream commands built by the same `go build`, so they share its compilation; each
   * binary is named after its package's last element (e.g. containerd's shim and `ctr`).
   */
  alsoBuilds?: string[];
  /** Build tags (e.g. runc's `seccomp`, containerd's `no_btrfs`). */
  tags?: string[];
  /** A directory of its own under bin/ for the outputs (the CNI plugins' `bin_dirs`). */
  outDir?: string;
  /** false: CGO_ENABLED=0, a static binary for an image that has no C library (the test Mogi). */
  cgo?: boolean;
  /** C programs of a module, compiled static with gcc (the kubelet's pause). */
  cPrograms?: { module: string; file: string; binary: string; defines?: Record<string, string> }[];
}

/** Every binary an engine directory makes (the first is the one its stamp and version name). */
function outputsOf(manifest: EngineManifest): string[] {
  return [manifest.binary, ...(manifest.alsoBuilds ?? []).map((pkg) => path.posix.basename(pkg)), ...(manifest.cPrograms ?? []).map((c) => c.binary)];
}

interface Outcome {
  binary: string;
  status: "built" | "up to date" | "failed";
  seconds: number;
  version?: string;
  error?: string;
}

const seconds = (since: number) => (Date.now() - since) / 1000;
const clock = (s: number) => (s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);

function readManifest(dir: string): EngineManifest {
  const manifest = JSON.parse(readFileSync(path.join(dir, "engine.json"), "utf8")) as EngineManifest;
  for (const key of ["binary", "package", "version"] as const) {
    if (typeof manifest[key] !== "string" || manifest[key] === "") throw new Error(`${dir}/engine.json: "${key}" must be a non-empty string`);
  }
  if (!Array.isArray(manifest.licence)) throw new Error(`${dir}/engine.json: "licence" must list the modules to check`);
  // Pinned: without a go.sum beside go.mod a fresh machine could resolve other versions (empty when the module needs none).
  if (!existsSync(path.join(dir, "go.sum"))) throw new Error(`${dir}: no go.sum beside go.mod; run \`go mod tidy\` there and commit it`);
  // Only a program of ours that needs no module but the standard library checks none.
  if (manifest.licence.length === 0 && /^require\b/m.test(readFileSync(path.join(dir, "go.mod"), "utf8"))) throw new Error(`${dir}/engine.json: "licence" must list at least one module to check`);
  return manifest;
}

/**
 * Every file of ours that decides what gets built (the embedded copies are derived, not inputs),
 * including the modules of ours its go.mod replaces by a local path (e.g. ../standin).
 */
function inputFiles(dir: string): string[] {
  const files: string[] = [];
  const goMod = readFileSync(path.join(dir, "go.mod"), "utf8").replace(/\/\/.*$/gm, ""); // comments may quote upstream's replaces
  const localModules = [...goMod.matchAll(/=>\s*(\.{1,2}\/\S+)/g)].map((m) => path.resolve(dir, m[1]));
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "embed") walk(full);
      } else if (/^(go\.mod|go\.sum|engine\.json)$|\.go$/.test(entry.name)) files.push(full);
    }
  };
  for (const root of [dir, ...localModules]) walk(root);
  return files.sort();
}

async function goVersion(): Promise<string> {
  return (await execFileAsync("go", ["env", "GOVERSION"])).stdout.trim();
}

function stampOf(dir: string, go: string): string {
  const hash = createHash("sha256").update(go);
  for (const file of inputFiles(dir)) hash.update(path.relative(dir, file)).update("\0").update(readFileSync(file)).update("\0");
  return hash.digest("hex");
}

/** Runs a command in `dir`, printing a heartbeat while it runs; rejects with its output's tail. */
function run(command: string, args: string[], dir: string, label: string, env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(command, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ""} -buildvcs=false`.trim(), ...env } });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const heartbeat = setInterval(() => console.log(`    … ${label} (${clock(seconds(started))})`), 60_000);
    child.on("error", (error) => {
      clearInterval(heartbeat);
      reject(error);
    });
    child.on("close", (code) => {
      clearInterval(heartbeat);
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(" ")} exited ${code}:\n${output.trim().split("\n").slice(-25).join("\n")}`));
    });
  });
}

/** The module's directory in the module cache, downloading it if needed. */
async function moduleDir(dir: string, module: string): Promise<string> {
  const { stdout } = await execFileAsync("go", ["mod", "download", "-json", module], { cwd: dir, maxBuffer: 1 << 20 });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${module}: ${info.Error ?? "no directory"}`);
  return info.Dir;
}

/** Refuses a build whose upstream licence is not the open-source one the manifest names (never BUSL). */
async function checkLicences(dir: string, manifest: EngineManifest): Promise<string[]> {
  const found: string[] = [];
  for (const { module, file, mustMatch } of manifest.licence) {
    const text = readFileSync(path.join(await moduleDir(dir, module), file), "utf8");
    if (/Business Source License/i.test(text) || !text.includes(mustMatch)) {
      throw new Error(`licence check failed: ${module}/${file} does not say "${mustMatch}" (first line: ${text.split("\n")[0].trim()}); refusing to build`);
    }
    found.push(`${module}: ${mustMatch}`);
  }
  return found;
}

async function copyEmbeds(dir: string, manifest: EngineManifest): Promise<void> {
  if (!manifest.embed?.length) return;
  const target = path.join(dir, "embed");
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target);
  for (const { module, file, as, setVersion } of manifest.embed) {
    let content = readFileSync(path.join(await moduleDir(dir, module), file), "utf8");
    if (setVersion) content = JSON.stringify({ ...JSON.parse(content), version: manifest.version });
    writeFileSync(path.join(target, as), content);
  }
}

async function versionOf(binaryPath: string, manifest: EngineManifest): Promise<string> {
  if (manifest.versionArgs) {
    const { stdout, stderr } = await execFileAsync(binaryPath, manifest.versionArgs, { timeout: 20_000 });
    return (stdout || stderr).trim().split("\n")[0];
  }
  if (manifest.licence.length === 0) return `${manifest.version} (ours)`;
  const { stdout } = await execFileAsync("go", ["version", "-m", binaryPath], { maxBuffer: 1 << 22 });
  const module = manifest.licence[0].module;
  // `mod` when the built package is inside that module, `dep` when our own main imports it.
  const dep = stdout.split("\n").map((l) => l.trim().split(/\s+/)).find((f) => (f[0] === "mod" || f[0] === "dep") && f[1] === module);
  return `${manifest.version} (${module} ${dep?.[2] ?? "?"})`;
}

async function buildEngine(dir: string, bin: string, go: string): Promise<Outcome> {
  const started = Date.now();
  let manifest: EngineManifest | undefined;
  try {
    manifest = readManifest(dir);
    const outDir = path.join(bin, manifest.outDir ?? "");
    mkdirSync(outDir, { recursive: true });
    const output = path.join(outDir, manifest.binary);
    const outputs = outputsOf(manifest).map((name) => path.join(outDir, name));
    const stampFile = path.join(outDir, `.${manifest.binary}.stamp`);
    const stamp = stampOf(dir, go);
    if (outputs.every((file) => existsSync(file)) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) {
      return { binary: manifest.binary, status: "up to date", seconds: seconds(started), version: await versionOf(output, manifest) };
    }
    console.log(`→ ${manifest.binary} ${manifest.version}: checking licences`);
    for (const line of await checkLicences(dir, manifest)) console.log(`    ${line}`);
    await copyEmbeds(dir, manifest);
    const xflags = Object.entries(manifest.xflags ?? {}).map(([key, value]) => `-X ${key}=${value}`);
    const packages = [manifest.package, ...(manifest.alsoBuilds ?? [])];
    console.log(`→ ${manifest.binary}: go build ${packages.join(" ")}`);
    rmSync(stampFile, { force: true });
    const tags = manifest.tags?.length ? ["-tags", manifest.tags.join(",")] : [];
    // One package: -o names the file; several: -o names the directory (each binary after its package).
    const target = packages.length === 1 ? output : `${outDir}${path.sep}`;
    await run("go", ["build", "-trimpath", ...tags, "-ldflags", ["-s", "-w", ...xflags].join(" "), "-o", target, ...packages], dir, `building ${manifest.binary}`, manifest.cgo === false ? { CGO_ENABLED: "0" } : {});
    for (const c of manifest.cPrograms ?? []) {
      const defines = Object.entries(c.defines ?? {}).map(([key, value]) => `-D${key}=${value}`);
      await run("gcc", ["-Os", "-Wall", "-static", ...defines, "-o", path.join(outDir, c.binary), path.join(await moduleDir(dir, c.module), c.file)], dir, `compiling ${c.binary}`);
    }
    for (const file of outputs) chmodSync(file, 0o755);
    writeFileSync(stampFile, stamp);
    const outcome: Outcome = { binary: manifest.binary, status: "built", seconds: seconds(started), version: await versionOf(output, manifest) };
    const mib = outputs.reduce((sum, file) => sum + statSync(file).size, 0) / 2 ** 20;
    console.log(`✓ ${outputsOf(manifest).join(", ")} built in ${clock(outcome.seconds)} (${mib.toFixed(0)} MiB)`);
    return outcome;
  } catch (error) {
    const message = (error as Error).message;
    console.log(`✗ ${manifest?.binary ?? path.basename(dir)}: ${message}`);
    return { binary: manifest?.binary ?? path.basename(dir), status: "failed", seconds: seconds(started), error: message };
  }
}

/** The engine directories, in the order they are built: the small ones first. */
export function engineDirs(): string[] {
  return readdirSync(ENGINE_SOURCES)
    .map((name) => path.join(ENGINE_SOURCES, name))
    .filter((dir) => existsSync(path.join(dir, "engine.json")))
    .sort((a, b) => ENGINE_ORDER.indexOf(path.basename(a)) - ENGINE_ORDER.indexOf(path.basename(b)) || a.localeCompare(b));
}
/** Consul first: the lock tests need only it. */
const ENGINE_ORDER = ["consul", "etcd", "pulumi", "pulumi-language-nodejs-v3.68.0", "pulumi-language-nodejs", "pulumi-resource-random", "pulumi-resource-consul", "pulumi-resource-kubernetes", "kube-apiserver", "kube-controller-manager", "kubelet", "runc", "cni-plugins", "containerd", "test-mogi"];

const engineNames = () => engineDirs().map((dir) => path.basename(dir));

const USAGE = `usage: npm run engines [-- <engine> ...]
  Builds the real engines the e2e tier runs from their Go modules into $MOGI_ENGINES_DIR/bin
  (default .engines/bin); a binary whose inputs are unchanged is kept. Needs Go.
  <engine>    only these (and what they need at run time); default: all of
${engineNames().join(", ").replace(/(.{1,80})(?:, |$)/g, "              $1,\n").replace(/,\n$/, "")}
  -h, --help  this text
exit: 0 every binary built or up to date, 1 one failed, 2 bad usage`;

const ENGINES_COMMAND_LINE: CommandLine<string[]> = {
  name: "engines",
  usage: USAGE,
  parse: (argv) => {
    const known = engineNames();
    const unknown = argv.find((name) => !known.includes(name));
    if (unknown !== undefined) throw new UsageError(`${unknown.startsWith("-") ? "unexpected option" : "unknown engine"} ${JSON.stringify(unknown)}`);
    return argv;
  },
};

export async function main(argv: string[], io: CommandIO = consoleIO): Promise<number> {
  const parsed = parseCommandLine(argv, ENGINES_COMMAND_LINE, io);
  if ("exitCode" in parsed) return parsed.exitCode;
  const started = Date.now();
  const bin = enginesBinDir();
  mkdirSync(bin, { recursive: true });
  let go: string;
  try {
    go = await goVersion();
  } catch (error) {
    io.err(`engines: cannot run \`go env GOVERSION\` (Go 1.26 is needed): ${(error as Error).message.split("\n")[0]}`);
    return 1;
  }
  const only = new Set(parsed.args);
  // What they need at run time, and what that needs (a Set visits what is added while it iterates).
  for (const name of only) for (const needed of readManifest(path.join(ENGINE_SOURCES, name)).requires ?? []) only.add(needed);
  const dirs = engineDirs().filter((dir) => only.size === 0 || only.has(path.basename(dir)));
  console.log(`engines: ${dirs.length} binaries into ${bin} (${go})`);
  const outcomes: Outcome[] = [];
  for (const dir of dirs) outcomes.push(await buildEngine(dir, bin, go));
  console.log(`\nengines (${clock(seconds(started))} in all):`);
  for (const o of outcomes) console.log(`  ${o.status === "failed" ? "✗" : "✓"} ${o.binary.padEnd(28)} ${o.status.padEnd(10)} ${clock(o.seconds).padStart(12)}  ${o.version ?? o.error?.split("\n")[0] ?? ""}`);
  return outcomes.some((o) => o.status === "failed") ? 1 : 0;
}

if (require.main === module) runAsScript((argv) => main(argv), "engines");
