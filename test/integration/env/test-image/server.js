// Stand-in for Mogi in the integration suite: serves /health with its pod name, and exits within
// a second of SIGTERM (well inside the 5 s consul lock allows). Its title is what the suite's
// `pgrep -f mogi-test-server` looks for.
"use strict";
process.title = "mogi-test-server";
const http = require("node:http");
const startedAt = new Date().toISOString();
const server = http.createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ pod: process.env.POD_NAME, runningSince: startedAt }));
  } else {
    res.writeHead(404).end();
  }
});
server.listen(8080);
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    setTimeout(() => process.exit(0), 500).unref();
  });
}
