/**
 * Reads a trace the simulator wrote (`quint run --out-itf`, the Informal Trace Format) and prints
 * it one line per step: the time, what the step did, then each pod (PID 1's step, L, Mogi) and the
 * two keys. test/model/README.md, "Reading a counterexample", explains the columns.
 *
 *   npx tsx test/model/trace.ts <trace.itf.json>
 */
import { readFileSync } from "node:fs";

type Itf = { vars: string[]; states: Record<string, unknown>[] };

/** The parts of the model's state (lockProtocol.qnt, "State") the summary shows. */
interface Entry { exists: boolean; sess: number; mi: number; v: { phase: string; pod: string; sess: number; fence: number } }
interface Consul { kv: Map<string, Entry>; delayUntil: Map<string, number>; downUntil: number }
interface Pod {
  alive: boolean; pc: string; sess: number; l: string; lSess: number; h: boolean;
  mMain: boolean; mKids: boolean; mTermAt: number; orphan: boolean; gConfirm: number; frozenUntil: number;
  net: { kind: string; until: number };
  call: { kind: string; st: string; res: string; sentAt: number };
}
interface State { now: number; consul: Consul; pods: Map<string, Pod>; lastStep: { act: string; pod: string; note: string } }

/** ITF values as plain JavaScript: bigints as numbers, maps as Map, records as objects. */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if ("#bigint" in record) return Number(record["#bigint"]);
    if ("#map" in record) return new Map((record["#map"] as [unknown, unknown][]).map(([k, v]) => [plain(k), plain(v)]));
    if ("#tup" in record) return (record["#tup"] as unknown[]).map(plain);
    if ("#set" in record) return (record["#set"] as unknown[]).map(plain);
    return Object.fromEntries(Object.entries(record).filter(([k]) => k !== "#meta").map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** A state's variables by their short names (`now`, `consul`, `pods`, `env`, `lastStep`). */
function varsOf(state: Record<string, unknown>): State {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(state)) {
    if (name === "#meta") continue;
    out[name.slice(name.lastIndexOf(":") + 1)] = plain(value);
  }
  return out as unknown as State;
}

function key(name: string, consul: Consul, now: number): string {
  const e = consul.kv.get(name)!;
  const until = consul.delayUntil.get(name) ?? 0;
  const delay = until > now ? ` delay→${until}` : "";
  if (!e.exists) return `${name}=∅${delay}`;
  const holder = e.sess === 0 ? "free" : `S${e.sess}`;
  const value = e.v.phase === "" ? "" : ` "${e.v.phase} ${e.v.pod} S${e.v.sess} ${e.v.fence}"`;
  return `${name}=${holder}${value} #${e.mi}${delay}`;
}

function pod(name: string, x: Pod, now: number): string {
  if (!x.alive) return `${name}: dead${x.orphan ? " ORPHAN-MOGI" : ""}`;
  const mogi = x.mMain || x.mKids ? ` MOGI${x.mTermAt >= 0 ? "(TERM)" : ""}` : "";
  const orphan = x.orphan ? " ORPHAN-MOGI" : "";
  const frozen = x.frozenUntil > now ? ` frozen→${x.frozenUntil}` : "";
  const net = x.net.until > now ? ` net=${x.net.kind}→${x.net.until}` : "";
  const session = x.sess ? ` S=S${x.sess}` : "";
  const confirm = x.gConfirm >= 0 ? ` conf@${x.gConfirm}` : "";
  const call = x.call.kind ? ` call=${x.call.kind}${x.call.st === "served" ? `:${x.call.res}` : ""}@${x.call.sentAt}` : "";
  const l = x.l === "off" ? "L=off" : `L=${x.l}(S${x.lSess})`;
  return `${name}: ${x.pc}${session}${call} ${l}${x.h ? " H" : ""}${mogi}${orphan}${confirm}${frozen}${net}`;
}

/** One line per state of the trace. */
export function summarize(itf: Itf): string[] {
  return itf.states.map((state, i) => {
    const v = varsOf(state);
    const step = v.lastStep;
    const what = `${step.act}${step.pod ? " " + step.pod : ""}${step.note ? ": " + step.note : ""}`;
    const pods = [...v.pods.entries()].map(([name, x]) => pod(name, x, v.now)).join(" | ");
    const down = v.consul.downUntil > v.now ? ` consul-down→${v.consul.downUntil}` : "";
    const keys = `${key(".lock", v.consul, v.now)}  ${key(".fence", v.consul, v.now)}${down}`;
    return `${String(i).padStart(3)} t=${String(v.now).padStart(3)}  ${what.padEnd(44)} ${pods} || ${keys}`;
  });
}

export function readTrace(file: string): Itf {
  return JSON.parse(readFileSync(file, "utf8")) as Itf;
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: npx tsx test/model/trace.ts <trace.itf.json>");
    process.exit(2);
  }
  for (const line of summarize(readTrace(file))) console.log(line);
}
