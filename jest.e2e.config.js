/**
 * Real-engine suites (test/e2e): real Consul, Pulumi CLI and providers, etcd, kube-apiserver and
 * kube-controller-manager built by `npm run engines`, and real nodes. Three suites at a time: each
 * starts its own servers (and nodes), and most of their time is spent waiting out Consul's TTLs and
 * lock-delays and the node-lifecycle controller (the randomized run alone is about 19 min, the
 * fencing, lock and fault suites 11 to 14 each), so the others run beside them.
 * Exclusion is judged from parent-observed intervals, which load does not bend; the measured
 * times are seconds, where the neighbour's load adds milliseconds.
 */
const unit = require("./jest.config.js");
module.exports = {
  ...unit,
  testPathIgnorePatterns: ["/node_modules/"],
  testMatch: ["**/test/e2e/**/*.test.ts"],
  maxWorkers: 3,
  testSequencer: "<rootDir>/test/e2e/sequencer.js",
  testTimeout: 10 * 60 * 1000,
};
