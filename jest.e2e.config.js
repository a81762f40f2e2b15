/**
 * Real-engine suites (test/e2e): real Consul, Pulumi CLI and providers, etcd, kube-apiserver and
 * kube-controller-manager built by `npm run engines`. One suite at a time: they start servers and
 * measure hand-over times, which other suites' load would distort.
 */
const unit = require("./jest.config.js");
module.exports = {
  ...unit,
  testPathIgnorePatterns: ["/node_modules/"],
  testMatch: ["**/test/e2e/**/*.test.ts"],
  maxWorkers: 1,
  testTimeout: 10 * 60 * 1000,
};
