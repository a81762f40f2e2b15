// What `pulumi preview` and `pulumi up` run (Pulumi.yaml `main`): the TypeScript program in
// ./index.ts, transpiled on load (./transpile.js) instead of type-checked by Pulumi's ts-node.
//
// Pulumi.yaml also says `typescript: false`, which current language hosts read from the engine's
// ProgramInfo, so they do not register ts-node at all. A host that reads runtime options only as
// command-line flags (the e2e tier's v3.68.0: the 3.248 and 3.277 engines pass none, see sdk/go/common/
// resource/plugin/langruntime_plugin.go buildArgsForNewPlugin) still registers it; ./transpile.js
// then replaces its `.ts` handler, so the program runs the same way under every host.
// ./deferSdkModules.js first: the program's `require("@pulumi/pulumi")` then skips the function
// serializer's TypeScript and npm libraries until something serializes a function.
require("./deferSdkModules");
require("./transpile");
module.exports = require("./index.ts");
