/**
 * Real-engine suites (test/e2e): real Consul, Pulumi CLI and providers, etcd, kube-apiserver and
 * kube-controller-manager built by `npm run engines`. Two suites at a time: each starts its own
 * servers, and the fault scenarios (faults.test.ts) spend most of their time waiting out the
 * node-lifecycle controller and Consul's TTLs, so the lock and deploy suites run beside them.
 * Exclusion is judged from parent-observed intervals, which load does not bend; the measured
 * times are seconds, where the neighbour's load adds milliseconds.
 */
const unit = require("./jest.config.js");
module.exports = {
  ...unit,
  testPathIgnorePatterns: ["/node_modules/"],
  testMatch: ["**/test/e2e/**/*.test.ts"],
  maxWorkers: 2,
  testTimeout: 10 * 60 * 1000,
};
