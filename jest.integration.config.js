/** Integration suites (test/integration): need the Pulumi CLI, a cluster and Consul; each skips with its reason otherwise. */
const unit = require("./jest.config.js");
module.exports = {
  ...unit,
  testPathIgnorePatterns: ["/node_modules/"],
  testMatch: ["**/test/integration/**/*.test.ts"],
  testTimeout: 15 * 60 * 1000,
};
