/**
 * The fake `consul`'s state (test/fixtures/fake-consul/consul.js), read and changed by a test the
 * way an operator or a fault would change Consul's: delete a key, destroy a session. Changes take
 * the fake's own lock directory, so they interleave with the scripts' calls as Consul's would.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, statSync, writeFileSync } from "node:fs";

export interface FakeKey { createIndex: number; lockIndex: number; modifyIndex: number; session: string; value: string }
export interface FakeState { index: number; keys: Record<string, FakeKey>; sessions: Record<string, { name: string; renewed: number }>; delays: Record<string, number>; tokens?: Record<string, { method: string; meta?: string; created?: number }> }

export class FakeConsul {
  constructor(readonly stateFile: string) {}

  read(): FakeState {
    return existsSync(this.stateFile) ? (JSON.parse(readFileSync(this.stateFile, "utf8")) as FakeState) : { index: 10, keys: {}, sessions: {}, delays: {} };
  }

  change(edit: (state: FakeState) => void): void {
    const lock = `${this.stateFile}.lock`;
    for (let i = 0; ; i++) {
      try {
        mkdirSync(lock);
        break;
      } catch {
        // A lock older than 1 s belongs to a `consul` call that was killed (see consul.js).
        try {
          if (Date.now() - statSync(lock).mtimeMs > 1000) rmdirSync(lock);
        } catch {
          // released meanwhile
        }
        if (i > 5000) throw new Error("fake consul state lock held for 5 s");
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      }
    }
    try {
      const state = this.read();
      edit(state);
      writeFileSync(`${this.stateFile}.tmp`, JSON.stringify(state));
      renameSync(`${this.stateFile}.tmp`, this.stateFile);
    } finally {
      rmdirSync(lock);
    }
  }

  key(key: string): FakeKey | undefined {
    return this.read().keys[key];
  }

  /** A key as a previous holder left it: free, with this value. */
  seed(key: string, value: string): void {
    this.change((s) => {
      s.index += 1;
      s.keys[key] = { createIndex: s.index, lockIndex: 1, modifyIndex: s.index, session: "", value };
    });
  }

  /** `consul kv delete`: frees the key at once, with no lock-delay. */
  delete(key: string): void {
    this.change((s) => {
      delete s.keys[key];
      s.index += 1;
    });
  }

  /** Session invalidation (destroy, TTL, node failure): its keys are freed with the lock-delay. */
  destroySession(session: string, lockDelayMs = 15_000): void {
    this.change((s) => {
      delete s.sessions[session];
      for (const [name, entry] of Object.entries(s.keys)) {
        if (entry.session !== session) continue;
        s.index += 1;
        Object.assign(entry, { session: "", modifyIndex: s.index });
        s.delays[name] = Date.now() + lockDelayMs;
      }
    });
  }

  /** Every `consul` call made so far, in order. */
  calls(): { pid: number; t: number; args: string[] }[] {
    const file = `${this.stateFile}.calls`;
    return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
  }
}
