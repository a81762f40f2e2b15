/**
 * The e2e suites, longest first (durations measured on the 2-core machine, test/README.md): with
 * three at a time, the long waits (the randomized run about 19 min, fencing 14, faults 14, lock 11)
 * start together and the short suites fill in beside them. Jest's default order needs timings of
 * an earlier run, which a fresh CI machine does not have.
 */
const Sequencer = require("@jest/test-sequencer").default;

const LONGEST_FIRST = ["randomFaults", "fencing", "faults", "lock", "deployProduction", "deployLogin", "lockTls", "deploy", "consulAcl"];
const rank = (file) => {
  const name = require("node:path").basename(file).replace(/\.test\.ts$/, "");
  const i = LONGEST_FIRST.indexOf(name);
  return i === -1 ? LONGEST_FIRST.length : i;
};

class LongestFirst extends Sequencer {
  sort(tests) {
    return [...tests].sort((a, b) => rank(a.path) - rank(b.path) || a.path.localeCompare(b.path));
  }
}

module.exports = LongestFirst;
