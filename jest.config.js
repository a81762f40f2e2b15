/** Unit suite: TypeScript through swc (no type-check here; `npm run build` type-checks). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "/test/integration/", "/test/e2e/"],
  transform: {
    "^.+\\.(ts|js)$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } }],
  },
  // @kubernetes/client-node (used by `npm run status`) ships ESM only, which jest on Node 20 cannot
  // require: compile it to CommonJS like our own code. Everything else in node_modules is left alone.
  transformIgnorePatterns: ["/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose)/)"],
  // Generous: the unit suite shares the 2-core machine with Go builds and the e2e tier, where a
  // test that takes 2 s alone has taken over 20 s. A test that hangs still fails.
  testTimeout: 60000,
  // Jest defaults to cores - 1 workers (1 on the 2-core CI machine); several suites mostly wait on
  // child processes, so two workers cut the wall time by a third (npm test: ~10 s -> ~7 s).
  maxWorkers: 2,
  // The lock wrapper's scenarios (test/lockWrapper.test.ts) mostly wait out lock-delays and fence
  // times side by side: all of them at once (jest's default is 5) keeps that suite near 40 s.
  maxConcurrency: 20,
};
