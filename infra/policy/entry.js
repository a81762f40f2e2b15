// The policy pack's entry (package.json `main`): ./index.ts, transpiled on load (../transpile.js).
// Pulumi's policy runner registers ts-node with type-checking for every pack not run by Bun,
// whatever the runtime options say (@pulumi/pulumi cmd/run-policy-pack/run.js); registered after
// it, ../transpile.js takes `.ts` over, so the pack starts without the type-check.
// ../deferSdkModules.js: @pulumi/policy's `require("@pulumi/pulumi")` skips the function
// serializer's TypeScript 5 and npm libraries, which a pack never uses.
require("../deferSdkModules");
require("../transpile");
require("./index.ts");
