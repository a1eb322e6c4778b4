// run_node_wasi.mjs -- runs a WASI command under node's V8, for bench/bigmodule.sh.
//
// This file implements the node engine of the large-module benchmark: it
// compiles and instantiates FILE.wasm with node's WASI preview1 and runs
// its _start with the remaining arguments, exiting with the guest's code.
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error("usage: node run_node_wasi.mjs FILE.wasm [ARG...]");
  process.exit(2);
}
const wasi = new WASI({ version: "preview1", args: [file, ...args], returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
