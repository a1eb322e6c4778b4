// The AssemblyScript SDK's probe skill: each input {"op": ...} exercises
// one part of sdk/assemblyscript against the real host, and answers
// exactly what the Rust probe (tests/sdk/rust-probe) answers for the same
// input, so that tests/sdk/test_sdk.c checks both SDKs with one set of
// expectations.
//
// A failed host call is an answer too: {"error": NAME, "code": C,
// "message": TEXT}, with the host's text from errorMessage().

import {
  ErrorCode, JsonObject, aiChat, configGet, errorMessage, errorName, failWith, httpRequest, inputBytes, inputString,
  jsonGetNumber, jsonGetString, jsonQuote, kvCas, kvDelete, kvGet, kvGetBytes, kvIncrement, kvSet, lastError, log,
  logDebug, logError, logInfo, logWarn, output, remainingMs, Level,
} from "../../sdk/assemblyscript/assembly/index";
import * as raw from "../../sdk/assemblyscript/assembly/raw";

function text(input: string, key: string): string {
  const v = jsonGetString(input, key);
  return v !== null ? v : "";
}

function failure(code: i32): string {
  return new JsonObject().str("error", errorName(code)).int("code", code).str("message", errorMessage())
    .toString();
}

/** The value the "kv" operation stores: `size` letters a..z repeated. */
function pattern(size: i32): string {
  // One allocation, not one per letter: the stub runtime never frees.
  return "abcdefghijklmnopqrstuvwxyz".repeat(size / 26 + 1).substring(0, size);
}

function kv(input: string): string {
  const key = text(input, "key");
  const value = pattern(<i32>jsonGetNumber(input, "size"));
  if (kvSet(key, value) < 0) return failure(lastError());
  const got = kvGetBytes(key);
  if (got === null) return failure(lastError());
  const want = String.UTF8.encode(value);
  let same = got.length == want.byteLength;
  const w = Uint8Array.wrap(want);
  for (let i = 0; same && i < got.length; i++) same = got[i] == w[i];
  const deleted = kvDelete(key);
  if (deleted < 0 && deleted != ErrorCode.NOT_FOUND) return failure(deleted);
  const again = kvDelete(key);
  if (again < 0 && again != ErrorCode.NOT_FOUND) return failure(again);
  const after = kvGet(key);
  if (after === null && lastError() != ErrorCode.NOT_FOUND) return failure(lastError());
  return new JsonObject()
    .int("len", got.length)
    .bool("same", same)
    .bool("deleted", deleted == ErrorCode.OK)
    .bool("again", again == ErrorCode.OK)
    .raw("after", after !== null ? jsonQuote(after) : "null")
    .toString();
}

function answer(op: string, input: string): string | null {
  if (op == "echo") {
    const b = inputBytes();
    if (b === null) return failure(lastError());
    let sum: u32 = 0;
    for (let i = 0; i < b.length; i++) sum += b[i];
    return new JsonObject().int("len", b.length).int("sum", sum).toString();
  }
  if (op == "kv") return kv(input);
  if (op == "atomic") {
    const key = text(input, "key");
    const value = kvIncrement(key, <i64>jsonGetNumber(input, "delta"));
    if (lastError() != ErrorCode.OK) return failure(lastError());
    const ck = key + ":c";
    const absent = kvCas(ck, null, "a");
    if (absent < 0) return failure(absent);
    const wrong = kvCas(ck, "x", "b");
    if (wrong < 0) return failure(wrong);
    const swapped = kvCas(ck, "a", "b");
    if (swapped < 0) return failure(swapped);
    const fin = kvGet(ck);
    if (fin === null) return failure(lastError());
    return new JsonObject().int("value", value).bool("absent", absent == 1).bool("wrong", wrong == 1)
      .bool("swapped", swapped == 1).str("final", fin).toString();
  }
  if (op == "set") {
    if (kvSet(text(input, "key"), text(input, "value")) < 0) return failure(lastError());
    return new JsonObject().bool("ok", true).toString();
  }
  if (op == "get") {
    const v = kvGet(text(input, "key"));
    if (v === null && lastError() != ErrorCode.NOT_FOUND) return failure(lastError());
    return new JsonObject().raw("value", v !== null ? jsonQuote(v) : "null").toString();
  }
  if (op == "ai") {
    const reply = aiChat(text(input, "prompt"));
    if (reply === null) return failure(lastError());
    return new JsonObject().str("reply", reply).toString();
  }
  if (op == "http") {
    const body = httpRequest(text(input, "method"), text(input, "url"), text(input, "body"));
    if (body === null) return failure(lastError());
    return new JsonObject().int("len", String.UTF8.byteLength(body)).str("head", body.substring(0, 32))
      .toString();
  }
  if (op == "log") {
    if (logDebug("probe debug " + (1).toString()) < 0) return failure(lastError());
    if (logInfo("probe info " + (2).toString()) < 0) return failure(lastError());
    if (logWarn("probe warn " + (3).toString()) < 0) return failure(lastError());
    if (log(Level.ERROR, "probe error 4") < 0) return failure(lastError());
    return new JsonObject().int("logged", 4).toString();
  }
  if (op == "config") {
    const v = configGet(text(input, "key"));
    if (v === null && lastError() != ErrorCode.NOT_FOUND) return failure(lastError());
    const k = String.UTF8.encode(text(input, "key"));
    const need = raw.config_get(changetype<usize>(k), k.byteLength, 0, 0);
    return new JsonObject().raw("value", v !== null ? jsonQuote(v) : "null").int("need", <i32>need).toString();
  }
  if (op == "remaining") {
    const ms = remainingMs();
    return new JsonObject().raw("remaining", ms < 0 ? "null" : ms.toString()).toString();
  }
  return null;
}

export function cis_main(): i32 {
  const input = inputString();
  if (lastError() != ErrorCode.OK) return failWith(lastError());
  const op = text(input, "op");
  // Ends the call with the given code through the SDK's failure path.
  if (op == "fail") return failWith(<i32>jsonGetNumber(input, "code", -12));
  // A failure inside the skill: the SDK's abort handler logs it, then traps.
  if (op == "abort") throw new Error("probe abort");
  // A large output written piece by piece.
  if (op == "output") {
    let left = <i32>jsonGetNumber(input, "n");
    if (output("{\"s\":\"") < 0) return failWith(lastError());
    const piece = "x".repeat(1000);
    while (left > 0) {
      const k = left < 1000 ? left : 1000;
      if (output(piece.substring(0, k)) < 0) return failWith(lastError());
      left -= k;
    }
    return output("\"}");
  }
  const a = answer(op, input);
  if (a === null) {
    logError("unknown op " + jsonQuote(op));
    return failWith(ErrorCode.INVALID);
  }
  return output(a);
}
