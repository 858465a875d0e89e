// What the bundle (scripts/bundle.mjs) gives for `import … from "undici"` in src/: the same classes from
// undici's own files, without the rest of undici's entry point. That entry loads fetch, WebSocket,
// EventSource, the cache stores, the mock agents and every interceptor, none of which the daemon uses;
// evaluating them cost ~45 ms of every start (`node dist/main.js --version`, median of 15: 303–337 →
// 266–278 ms). src/ calls `dispatcher.request(…)` (undici's documented Dispatcher API), which the entry
// point adds to Dispatcher's prototype, so this does the same. A name src/ imports that is not exported
// here fails the build ("No matching export"), never the running daemon.
import api from "undici/lib/api/index.js";
import Agent from "undici/lib/dispatcher/agent.js";
import Dispatcher from "undici/lib/dispatcher/dispatcher.js";
import EnvHttpProxyAgent from "undici/lib/dispatcher/env-http-proxy-agent.js";

Object.assign(Dispatcher.prototype, api);

export { Agent, EnvHttpProxyAgent };
