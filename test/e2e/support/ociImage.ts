/**
 * Images without a registry: an OCI image layout tarball made from a list of files (one gzip
 * layer, one config, one manifest, an index naming it), which `ctr images import` loads into a
 * node's containerd. Deterministic (sorted entries, mtime 0, uid/gid 0, gzip without a name or
 * time), so that an image's digest depends only on its files: the production shape pins images by
 * digest, and the digest it pins is the one computed here.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";

/** A file of the image: a copy of a host file, literal content, or a symlink. */
export type ImageFile = { from: string; mode?: number } | { content: string; mode?: number } | { symlink: string };

export interface ImageSpec {
  /** The full reference containerd's CRI will resolve (e.g. docker.io/library/mogi-test:e2e). */
  name: string;
  /**
   * More names for the same image: the index names each (one import makes every name an image of
   * its own, which CRI also finds by `<repository>@<digest>`; a `ctr images tag` alias it does not).
   */
  aliases?: string[];
  files: Record<string, ImageFile>;
  entrypoint?: string[];
  /** The image's default user (the pod's runAsUser overrides it). */
  user?: string;
}

export interface BuiltImage {
  name: string;
  tarball: string;
  /** sha256:… of the manifest: what `<repository>@<digest>` pins. */
  digest: string;
}

const sha256 = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** The busybox applets a small `/bin/sh` + `sleep` base links (Debian's busybox-static). */
export function busyboxBase(busybox = "/bin/busybox"): Record<string, ImageFile> {
  const files: Record<string, ImageFile> = { "bin/busybox": { from: busybox, mode: 0o755 } };
  for (const applet of ["sh", "sleep", "cp", "cat", "ls", "id", "touch", "mkdir", "rm", "echo", "dd", "kill", "ps", "grep", "wget"]) files[`bin/${applet}`] = { symlink: "busybox" };
  return files;
}

/** Builds the image's layout under `workDir` and packs it into `<workDir>/<slug>.oci.tar`. */
export function buildImage(spec: ImageSpec, workDir: string): BuiltImage {
  const slug = spec.name.replace(/[^a-zA-Z0-9.-]+/g, "_");
  const rootfs = path.join(workDir, `${slug}.rootfs`);
  const layout = path.join(workDir, `${slug}.layout`);
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(layout, { recursive: true, force: true });
  mkdirSync(path.join(layout, "blobs", "sha256"), { recursive: true });
  for (const dir of ["tmp", "etc", "proc", "sys", "dev"]) mkdirSync(path.join(rootfs, dir), { recursive: true });
  chmodSync(path.join(rootfs, "tmp"), 0o1777);
  writeFileSync(path.join(rootfs, "etc", "passwd"), "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n");
  writeFileSync(path.join(rootfs, "etc", "group"), "root:x:0:\nnobody:x:65534:\n");
  for (const [file, source] of Object.entries(spec.files)) {
    const target = path.join(rootfs, file);
    mkdirSync(path.dirname(target), { recursive: true });
    if ("symlink" in source) symlinkSync(source.symlink, target);
    else {
      if ("from" in source) copyFileSync(source.from, target);
      else writeFileSync(target, source.content);
      chmodSync(target, source.mode ?? 0o644);
    }
  }
  const layerTar = path.join(workDir, `${slug}.layer.tar`);
  execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", rootfs, "-cf", layerTar, "."]);
  const layer = readFileSync(layerTar);
  const gzipped = execFileSync("gzip", ["-n", "-c", layerTar], { maxBuffer: 1 << 30 });
  rmSync(layerTar);
  const blob = (data: Buffer) => {
    const digest = sha256(data);
    writeFileSync(path.join(layout, "blobs", "sha256", digest.slice(7)), data);
    return { digest, size: data.length };
  };
  const layerBlob = blob(gzipped);
  const config = blob(Buffer.from(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Entrypoint: spec.entrypoint, User: spec.user, Env: ["PATH=/usr/local/bin:/usr/bin:/bin"] },
    rootfs: { type: "layers", diff_ids: [sha256(layer)] },
    history: [{ created: "1970-01-01T00:00:00Z", created_by: "mogi e2e harness (test/e2e/support/ociImage.ts)" }],
  })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layerBlob }],
  })));
  writeFileSync(path.join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(path.join(layout, "index.json"), JSON.stringify({
    schemaVersion: 2,
    // Each name also by digest: CRI resolves `<repository>@<digest>` only to an image of that name,
    // which a pull would have created and an import does not.
    manifests: [spec.name, ...(spec.aliases ?? [])].flatMap((name) => [name, `${name.replace(/:[^:/]+$/, "")}@${manifest.digest}`]).map((name) => ({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      ...manifest,
      platform: { architecture: "amd64", os: "linux" },
      annotations: { "io.containerd.image.name": name },
    })),
  }));
  const tarball = path.join(workDir, `${slug}.oci.tar`);
  execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", layout, "-cf", tarball, "."]);
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(layout, { recursive: true, force: true });
  return { name: spec.name, tarball, digest: manifest.digest };
}
