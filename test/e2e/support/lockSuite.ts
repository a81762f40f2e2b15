/**
 * What every lock-level suite (lock, lockTls, fencing, randomFaults, consulAcl) starts from: a work
 * dir, a run id with its lock and config prefixes in Consul, the test Mogis' own records and the
 * intervals their parents observed; and the stack those suites render, whose pods run the test
 * Mogi (fixtures/test-mogi.js) as local containers (support/localPod.ts).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { TEST_IMAGE } from "./localPod";
import { MogiIntervals } from "./mogiIntervals";
import { MogiWatch } from "./mogiWatch";
import { testConfig } from "./renderedStack";

const TEST_MOGI = path.join(__dirname, "..", "fixtures", "test-mogi.js");

export interface LockSuite {
  dir: string;
  /** Unique per run: the suite's Consul keys live under e2e/<run>/. */
  run: string;
  lockPrefix: string;
  configPrefix: string;
  watch: MogiWatch;
  intervals: MogiIntervals;
}

/** A suite's world, in a new temp dir `mogi-e2e-<name>-…`. */
export function lockSuite(name: string): LockSuite {
  const dir = mkdtempSync(path.join(tmpdir(), `mogi-e2e-${name}-`));
  const run = `r${Date.now().toString(36)}`;
  return { dir, run, lockPrefix: `e2e/${run}/lock`, configPrefix: `e2e/${run}/config`, watch: new MogiWatch(path.join(dir, "mogi-events.jsonl")), intervals: new MogiIntervals() };
}

/**
 * The stack's settings for a Consul at `address` (the pods reach it there too): the test Mogi with
 * `mogiArgs` as Mogi's command, plain HTTP in dc1 under the suite's prefixes with debug logging,
 * unless `consul` says otherwise (its keys replace those).
 */
export function lockStackConfig(suite: LockSuite, address: string, options: { mogiArgs?: string[]; consul?: Record<string, unknown> } = {}): Record<string, string> {
  return testConfig({
    "mogi:image": TEST_IMAGE,
    "mogi:command": JSON.stringify([process.execPath, TEST_MOGI, ...(options.mogiArgs ?? [])]),
    "mogi:kubernetes": "{}",
    "mogi:consul": JSON.stringify({ address, scheme: "http", datacenter: "dc1", inClusterHost: address, lockPrefix: suite.lockPrefix, configPrefix: suite.configPrefix, kv: { "log-level": "debug" }, ...options.consul }),
  });
}
