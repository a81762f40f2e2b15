/** Where the engines' sources and built binaries are (`npm run engines`, test/e2e). */
import { accessSync, constants } from "node:fs";
import * as path from "node:path";

/** test/engines/: one Go module of ours per binary. */
export const ENGINE_SOURCES = __dirname;

/** $MOGI_ENGINES_DIR/bin, default .engines/bin in the project. */
export function enginesBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.MOGI_ENGINES_DIR ?? path.join(__dirname, "..", "..", ".engines"), "bin");
}

export class MissingEngineError extends Error {}

/** The built binary's path; throws, naming `npm run engines`, when it is not there. */
export function engine(binary: string, env: NodeJS.ProcessEnv = process.env): string {
  const file = path.join(enginesBinDir(env), binary);
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new MissingEngineError(`${binary} is not built: run \`npm run engines\` (looked in ${path.dirname(file)})`);
  }
  return file;
}
