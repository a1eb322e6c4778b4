// An MCP client made with one release of the official TypeScript SDK
// (package.json pins one release per protocol version, each under its own
// alias): it connects to cis over stdio (`cis mcp`) or streamable HTTP
// (`cis serve`'s /mcp), lists the tools, calls one, and prints one line of
// JSON: the SDK's newest version, what it agreed on, and the server's raw
// messages, which test_mcp_sdk.c checks for the shapes of that version.
//
//   node probe.mjs SDK stdio CIS TOOL [ASK]
//   node probe.mjs SDK http URL TOKEN TOOL [ASK]
//
// SDK is an alias of package.json ("sdk-2025-06-18"); ASK, when given,
// replaces the protocolVersion of the SDK's initialize, as a client that
// speaks an older version over the same transport would send it.
// Exits 1 with the reason on stderr when anything fails.
const [sdk, transportKind, ...rest] = process.argv.slice(2);

async function main() {
  const { Client } = await import(`${sdk}/client/index.js`);
  const { LATEST_PROTOCOL_VERSION } = await import(`${sdk}/types.js`);
  let transport, tool, ask;
  if (transportKind === "stdio") {
    const { StdioClientTransport } = await import(`${sdk}/client/stdio.js`);
    [, tool, ask] = rest;
    transport = new StdioClientTransport({ command: rest[0], args: ["mcp"], env: { ...process.env }, stderr: "inherit" });
  } else {
    const { StreamableHTTPClientTransport } = await import(`${sdk}/client/streamableHttp.js`);
    const [url, token] = rest;
    [, , tool, ask] = rest;
    transport = new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    });
  }

  // The server's messages as they arrive, before the SDK reads them: the
  // client sets onmessage in connect() just before it starts the transport.
  const seen = [];
  const start = transport.start.bind(transport);
  transport.start = async () => {
    const handler = transport.onmessage;
    transport.onmessage = (msg, extra) => {
      seen.push(msg);
      handler(msg, extra);
    };
    return start();
  };
  if (ask) {
    const send = transport.send.bind(transport);
    transport.send = (msg, opts) => {
      if (msg.method === "initialize") msg = { ...msg, params: { ...msg.params, protocolVersion: ask } };
      return send(msg, opts);
    };
  }

  const client = new Client({ name: "cis-probe", version: "1.0.0" }, { capabilities: {} });
  await client.connect(transport);
  const tools = await client.listTools();
  const call = await client.callTool({ name: tool, arguments: { text: "hi" } });
  const byId = (pred) => seen.find((m) => m.result && pred(m.result));
  const out = {
    sdk,
    latest: LATEST_PROTOCOL_VERSION,
    names: tools.tools.map((t) => t.name),
    text: call.content?.[0]?.text ?? null,
    initialize: byId((r) => r.protocolVersion !== undefined)?.result ?? null,
    list: byId((r) => Array.isArray(r.tools))?.result ?? null,
    call: byId((r) => Array.isArray(r.content))?.result ?? null,
  };
  await client.close();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`probe ${sdk} ${transportKind}: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
