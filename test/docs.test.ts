/**
 * The documentation's local links resolve: in every Markdown file of the repository (tracked, or
 * new and not ignored), each relative link names a file or folder that exists, and each `#anchor`
 * matches a heading of the file it points at, slugged the way GitHub slugs headings. And the
 * README stays short enough to read in ten minutes.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..");
const README_MAX_LINES = 350;

/** Markdown files git knows of or would add (ignored ones, such as node_modules, left out). */
function markdownFiles(): string[] {
  let files: string[];
  try {
    files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "--", "*.md"], { cwd: ROOT, encoding: "utf8" })
      .split("\n")
      .filter(Boolean);
  } catch {
    // Not a git checkout (an archive): every .md outside the folders .gitignore names.
    const skip = new Set([".git", "node_modules", "out", "coverage", ".engines", "results"]);
    const walk = (dir: string): string[] =>
      readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
        const rel = path.posix.join(dir, e.name);
        if (e.isDirectory()) return skip.has(e.name) ? [] : walk(rel);
        return e.name.endsWith(".md") ? [rel] : [];
      });
    files = walk(".").map((f) => f.replace(/^\.\//, ""));
  }
  return [...new Set(files)].filter((f) => existsSync(path.join(ROOT, f))).sort();
}

/** GitHub's heading anchor (github-slugger): lower case, punctuation and symbols dropped, spaces to hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links and images: their text
    .replace(/<[^>]+>/g, "") // inline HTML
    .replace(/[*~]/g, ""); // emphasis markers
  return text.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
}

interface Doc {
  anchors: Set<string>;
  links: { line: number; target: string }[];
}

/** Headings (ATX and setext) and HTML ids become anchors; links outside code become targets. */
function parseMarkdown(text: string): Doc {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const addHeading = (heading: string) => {
    const base = slug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  };
  const links: Doc["links"] = [];
  let fence: string | undefined;
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const fenceMark = /^\s{0,3}(`{3,}|~{3,})/.exec(raw);
    if (fence) {
      if (fenceMark && fenceMark[1][0] === fence[0] && fenceMark[1].length >= fence.length && raw.trim() === fenceMark[1]) fence = undefined;
      return;
    }
    if (fenceMark) {
      fence = fenceMark[1];
      return;
    }
    const line = raw.replace(/(`+)[^`]*?\1/g, (m) => " ".repeat(m.length)); // code spans hold no links
    const atx = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (atx) addHeading(raw.replace(/^\s{0,3}#{1,6}\s+/, "").replace(/\s+#+\s*$/, ""));
    else if (/^\s{0,3}(=+|-+)\s*$/.test(line) && i > 0 && lines[i - 1].trim() !== "" && !/^\s*([-*+]|\d+\.|\||>|#)/.test(lines[i - 1])) addHeading(lines[i - 1]);
    for (const m of line.matchAll(/<a\s[^>]*?\b(?:id|name)="([^"]+)"/gi)) anchors.add(m[1]);
    for (const m of line.matchAll(/\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+"[^"]*")?\s*\)/g)) links.push({ line: i + 1, target: m[1].replace(/^<|>$/g, "") });
    const definition = /^\s{0,3}\[[^\]]+\]:\s*(\S+)/.exec(line);
    if (definition) links.push({ line: i + 1, target: definition[1].replace(/^<|>$/g, "") });
  });
  return { anchors, links };
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//");

describe("documentation", () => {
  const files = markdownFiles();
  const docs = new Map(files.map((f) => [f, parseMarkdown(readFileSync(path.join(ROOT, f), "utf8"))]));

  test("the slugs are GitHub's", () => {
    expect(slug("Operating: `npm run status`")).toBe("operating-npm-run-status");
    expect(slug("CI workflows for users (`.github/workflows/`)")).toBe("ci-workflows-for-users-githubworkflows");
    expect(slug("The SDK's function serializer loads on first use")).toBe("the-sdks-function-serializer-loads-on-first-use");
    expect(slug("Real-engine tier (`npm run test:e2e`)")).toBe("real-engine-tier-npm-run-teste2e");
    expect([...parseMarkdown("# A\n## A\n```\n# not a heading\n```\nB\n---\n").anchors]).toEqual(["a", "a-1", "b"]);
    expect(parseMarkdown("see `[x](nowhere.md)` and [y](there.md#z)").links).toEqual([{ line: 1, target: "there.md#z" }]);
  });

  test("finds the README and the folder READMEs", () => {
    expect(files).toEqual(expect.arrayContaining(["README.md", "components/README.md", "test/README.md", "infra/policy/README.md"]));
  });

  test("every local link and anchor resolves", () => {
    const broken: string[] = [];
    for (const [file, { links }] of docs) {
      for (const { line, target } of links) {
        if (isExternal(target)) continue;
        const [rawPath, anchor] = target.split("#", 2) as [string, string | undefined];
        const linkPath = decodeURIComponent(rawPath);
        const resolved = linkPath === "" ? file : path.posix.normalize(linkPath.startsWith("/") ? linkPath.slice(1) : path.posix.join(path.posix.dirname(file), linkPath));
        const where = `${file}:${line}: ${target}`;
        if (resolved.startsWith("..") || !existsSync(path.join(ROOT, resolved))) {
          broken.push(`${where}: no such file`);
          continue;
        }
        if (anchor === undefined || anchor === "" || statSync(path.join(ROOT, resolved)).isDirectory() || !resolved.endsWith(".md")) continue;
        const anchors = docs.get(resolved)?.anchors ?? parseMarkdown(readFileSync(path.join(ROOT, resolved), "utf8")).anchors;
        const wanted = decodeURIComponent(anchor);
        if (!anchors.has(wanted) && !anchors.has(wanted.toLowerCase())) broken.push(`${where}: no heading with anchor #${anchor} in ${resolved}`);
      }
    }
    expect(broken).toEqual([]);
  });

  test(`README.md is at most ${README_MAX_LINES} lines`, () => {
    const text = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    expect(lines).toBeLessThanOrEqual(README_MAX_LINES);
  });
});
