// run_node.mjs -- runs one benchmark workload under node's V8.
//
// This file implements the node engine of bench/run.sh: it instantiates
// the module given on the command line with no imports, calls its export
// `run` once and prints the result on its own line. An i64 result arrives
// as a BigInt, whose decimal form matches the other engines'.
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  console.error("usage: node run_node.mjs FILE.wasm");
  process.exit(2);
}
const { instance } = await WebAssembly.instantiate(readFileSync(file), {});
console.log(String(instance.exports.run()));
