// run_node_wasi.mjs -- runs a WASI command under node's V8, for bench/bigmodule.sh
// and bench/flite.sh.
//
// This file implements the node engine of the large-module and Flite
// benchmarks: it compiles and instantiates FILE.wasm with node's WASI
// preview1 and runs its _start with the remaining arguments, exiting with
// the guest's code. Each --dir HOST::GUEST before FILE.wasm preopens the
// host folder HOST at GUEST, as `cis run --dir` does.
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";

const argv = process.argv.slice(2);
const preopens = {};
while (argv[0] === "--dir") {
  const [host, guest] = (argv[1] ?? "").split("::");
  if (!host) break;
  preopens[guest || host] = host;
  argv.splice(0, 2);
}
const [file, ...args] = argv;
if (!file || file.startsWith("--")) {
  console.error("usage: node run_node_wasi.mjs [--dir HOST::GUEST]... FILE.wasm [ARG...]");
  process.exit(2);
}
const wasi = new WASI({ version: "preview1", args: [file, ...args], preopens, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
