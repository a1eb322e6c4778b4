// node_host.mjs -- the node reference of bench/skill.sh: runs a cis_v1
// skill under V8 with a minimal host written in JavaScript.
//
// This file implements just enough of the cis_v1 ABI (docs/abi.md) to run
// a skill such as examples/hello: input_len / input_read serve the input
// given on the command line, output_write collects the output, log writes
// to stderr, every other import fails with INTERNAL (-12). It compiles and
// instantiates the module, calls _initialize when exported (a WASI
// reactor), then cis_main, and prints the output. It is what "load,
// validate, instantiate, run" costs on V8, started as a process like `cis
// skill run`.
//
//   node node_host.mjs SKILL.wasm [INPUT_JSON]
import { readFileSync } from "node:fs";

const [file, inputText = "{}"] = process.argv.slice(2);
if (!file) {
  console.error("usage: node node_host.mjs SKILL.wasm [INPUT_JSON]");
  process.exit(2);
}
const input = new TextEncoder().encode(inputText);
const chunks = [];
let memory = null;
const bytes = (ptr, len) => new Uint8Array(memory.buffer, ptr, len);

const cis_v1 = {
  input_len: () => BigInt(input.length),
  input_read: (offset, ptr, len) => {
    const from = Number(offset);
    if (from >= input.length) return 0;
    const part = input.subarray(from, Math.min(input.length, from + len));
    bytes(ptr, part.length).set(part);
    return part.length;
  },
  output_write: (ptr, len) => {
    chunks.push(Buffer.from(bytes(ptr, len)));
    return 0;
  },
  log: (level, ptr, len) => {
    process.stderr.write(`level ${level}: ${Buffer.from(bytes(ptr, len)).toString()}\n`);
    return 0;
  },
};

const module = new WebAssembly.Module(readFileSync(file));
const imports = {};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.kind !== "function") {
    console.error(`node_host: unsupported import ${imp.module}.${imp.name} (${imp.kind})`);
    process.exit(1);
  }
  imports[imp.module] ??= {};
  const known = imp.module === "cis_v1" ? cis_v1[imp.name] : undefined;
  // i64 results must be BigInts: input_len is the only i64 one we serve.
  imports[imp.module][imp.name] = known ?? (() => -12);
}
const instance = new WebAssembly.Instance(module, imports);
memory = instance.exports.memory;
if (instance.exports._initialize) instance.exports._initialize();
const rc = instance.exports.cis_main();
if (rc !== 0) {
  console.error(`node_host: cis_main returned ${rc}`);
  process.exit(1);
}
process.stdout.write(Buffer.concat(chunks).toString() + "\n");
