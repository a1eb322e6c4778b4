// cis-skill for AssemblyScript: helpers over the cis_v1 skill ABI
// (docs/abi.md, docs/sdk.md).
//
// A skill's entry file exports `cis_main(): i32` and builds with
//   asc skill.ts --runtime stub --use abort=<this folder>/index/cisAbort \
//       -O3 --noAssert -o skill.wasm
// It reads its input with inputString(), writes one JSON document with
// output(), and returns OK or a negative ErrorCode. AssemblyScript has no
// exceptions, so helpers that can fail return null (or a negative code) and
// keep the code for lastError().

import * as raw from "./raw";
export { raw };

/** The error codes the host returns to a skill (docs/abi.md). */
export enum ErrorCode {
  OK = 0,
  NOT_FOUND = -1,
  DENIED = -2,
  TOO_LARGE = -3,
  TIMEOUT = -4,
  UNAVAILABLE = -5,
  INVALID = -6,
  NO_PROVIDER = -7,
  UPSTREAM = -8,
  QUOTA = -9,
  NO_ALLOCATOR = -10,
  ALLOC_FAILED = -11,
  INTERNAL = -12,
}

/** Log levels. */
export enum Level {
  DEBUG = 0,
  INFO = 1,
  WARN = 2,
  ERROR = 3,
}

/** The ABI's name of a code, e.g. "NOT_FOUND". */
export function errorName(code: i32): string {
  switch (code) {
    case 0: return "OK";
    case -1: return "NOT_FOUND";
    case -2: return "DENIED";
    case -3: return "TOO_LARGE";
    case -4: return "TIMEOUT";
    case -5: return "UNAVAILABLE";
    case -6: return "INVALID";
    case -7: return "NO_PROVIDER";
    case -8: return "UPSTREAM";
    case -9: return "QUOTA";
    case -10: return "NO_ALLOCATOR";
    case -11: return "ALLOC_FAILED";
    case -12: return "INTERNAL";
  }
  return "OTHER";
}

let status: i32 = 0;

/** The code of the last helper call: OK, or why it returned null. */
export function lastError(): i32 {
  return status;
}

function done(code: i32): i32 {
  status = code < 0 ? code : 0;
  return status;
}

// ------------------------------------------------------------- strings

/** A string as UTF-8 bytes. A lone surrogate (which an AssemblyScript
 * string can hold, e.g. from a "\ud800" escape) becomes U+FFFD, so what
 * reaches the host is always valid UTF-8. */
export function utf8(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE));
}

/** UTF-8 bytes as a string. The input (which the host validates) and KV
 * values written by the skill are valid UTF-8; other bytes decode to
 * unspecified characters (AssemblyScript's decoder does not check), never
 * to a read outside `b`. Use the *Bytes helpers for binary data. */
export function fromUtf8(b: Uint8Array): string {
  return String.UTF8.decodeUnsafe(b.dataStart, <usize>b.length);
}

// --------------------------------------------------------------- input

/** The whole input as bytes (null on error, see lastError()). */
export function inputBytes(): Uint8Array | null {
  const n = raw.input_len();
  if (n < 0) {
    done(<i32>n);
    return null;
  }
  if (n > 0x7fffffff) {
    done(ErrorCode.TOO_LARGE);
    return null;
  }
  const len = <i32>n;
  const buf = new Uint8Array(len);
  let off: i32 = 0;
  while (off < len) {
    const got = raw.input_read(<i64>off, buf.dataStart + <usize>off, len - off);
    if (got <= 0) {
      done(got < 0 ? got : ErrorCode.INTERNAL);
      return null;
    }
    off += got;
  }
  done(0);
  return buf;
}

/** The whole input as a string ("" on error, see lastError()). */
export function inputString(): string {
  const b = inputBytes();
  return b ? fromUtf8(b) : "";
}

// -------------------------------------------------------------- output

/** Appends bytes to the call's output. */
export function outputBytes(b: Uint8Array): i32 {
  return done(raw.output_write(b.dataStart, b.length));
}

/** Appends text to the call's output (one JSON document in the end). */
export function output(s: string): i32 {
  return outputBytes(utf8(s));
}

// ------------------------------------------------------------------ KV

/** The value under `key` as bytes; null when absent (lastError() is
 * NOT_FOUND) or on error. Retries once when the first buffer is too small. */
export function kvGetBytes(key: string): Uint8Array | null {
  const k = utf8(key);
  let cap: i32 = 256;
  for (let i = 0; i < 4; i++) {
    const buf = new Uint8Array(cap);
    const n = raw.kv_get(k.dataStart, k.length, buf.dataStart, cap);
    if (n < 0) {
      done(<i32>n);
      return null;
    }
    if (n <= <i64>cap) {
      done(0);
      return buf.subarray(0, <i32>n);
    }
    if (n > 0x7fffffff) break;
    cap = <i32>n;
  }
  done(ErrorCode.TOO_LARGE);
  return null;
}

/** The value under `key` as a string; null when absent or on error. */
export function kvGet(key: string): string | null {
  const b = kvGetBytes(key);
  return b ? fromUtf8(b) : null;
}

// ------------------------------------------------------------ settings

/** The operator's setting `key` (`cis skill config set NAME KEY VALUE`, or
 * `cis skill run --config KEY=VALUE` for one call); null when it is not set
 * (lastError() is NOT_FOUND) or on error. */
export function configGet(key: string): string | null {
  const k = utf8(key);
  let cap: i32 = 64;
  for (let i = 0; i < 4; i++) {
    const buf = new Uint8Array(cap);
    const n = raw.config_get(k.dataStart, k.length, buf.dataStart, cap);
    if (n < 0) {
      done(<i32>n);
      return null;
    }
    if (n <= <i64>cap) {
      done(0);
      return fromUtf8(buf.subarray(0, <i32>n));
    }
    if (n > 0x7fffffff) break;
    cap = <i32>n;
  }
  done(ErrorCode.TOO_LARGE);
  return null;
}

/** Stores bytes under `key`. */
export function kvSetBytes(key: string, value: Uint8Array): i32 {
  const k = utf8(key);
  return done(raw.kv_set(k.dataStart, k.length, value.dataStart, value.length));
}

/** Stores a string under `key`. */
export function kvSet(key: string, value: string): i32 {
  return kvSetBytes(key, utf8(value));
}

/** Deletes `key`: OK, NOT_FOUND when it was absent, or an error code. */
export function kvDelete(key: string): i32 {
  const k = utf8(key);
  return done(raw.kv_delete(k.dataStart, k.length));
}

/** Atomically adds `delta` to the integer stored (as decimal text) under
 * `key`, an absent key counting as 0, and returns the new value (0 on
 * error, see lastError(): INVALID when the value is not such an integer).
 * Use it, not kvGet + kvSet, for counters and ids that concurrent calls
 * share: it holds the skill's KV lock until the call ends, and commits
 * only when the call succeeds. delta 0 reads under the lock. */
export function kvIncrement(key: string, delta: i64): i64 {
  const k = utf8(key);
  const out = new StaticArray<i64>(1);
  const rc = done(raw.kv_increment(k.dataStart, k.length, delta, changetype<usize>(out)));
  return rc < 0 ? 0 : out[0];
}

/** Atomically stores `value` under `key` only when the key now holds
 * exactly `expect` (null: only when it is absent). 1 swapped, 0 not, or a
 * negative error code. */
export function kvCas(key: string, expect: string | null, value: string): i32 {
  const k = utf8(key);
  const v = utf8(value);
  let r: i32;
  if (expect === null) {
    r = raw.kv_cas(k.dataStart, k.length, 0, -1, v.dataStart, v.length);
  } else {
    const e = utf8(expect!);
    r = raw.kv_cas(k.dataStart, k.length, e.dataStart, e.length, v.dataStart, v.length);
  }
  done(r);
  return r;
}

// -------------------------------------------------------- AI and HTTP

/** Sends `prompt` to the AI provider; the reply, or null on error. */
export function aiChat(prompt: string): string | null {
  const p = utf8(prompt);
  let cap: i32 = 4096;
  for (let i = 0; i < 4; i++) {
    const buf = new Uint8Array(cap);
    const n = raw.ai_chat(p.dataStart, p.length, buf.dataStart, cap);
    if (n < 0) {
      done(<i32>n);
      return null;
    }
    if (n <= <i64>cap) {
      done(0);
      return fromUtf8(buf.subarray(0, <i32>n));
    }
    if (n > 0x7fffffff) break;
    cap = <i32>n;
  }
  done(ErrorCode.TOO_LARGE);
  return null;
}

/** An HTTP request (body "" for none) to a URL the skill may reach; the
 * response body whatever the HTTP status (cis_v1 does not pass the status
 * on; 400 and above are not errors), or null on error: DENIED off the
 * allow-list, UNAVAILABLE when the server cannot be reached, INVALID for
 * a bad URL or method. */
export function httpRequest(method: string, url: string, body: string = ""): string | null {
  const m = utf8(method);
  const u = utf8(url);
  const b = utf8(body);
  let cap: i32 = 4096;
  for (let i = 0; i < 4; i++) {
    const buf = new Uint8Array(cap);
    const n = raw.http_request(m.dataStart, m.length, u.dataStart, u.length, b.dataStart, b.length,
                               buf.dataStart, cap);
    if (n < 0) {
      done(<i32>n);
      return null;
    }
    if (n <= <i64>cap) {
      done(0);
      return fromUtf8(buf.subarray(0, <i32>n));
    }
    if (n > 0x7fffffff) break;
    cap = <i32>n;
  }
  done(ErrorCode.TOO_LARGE);
  return null;
}

/** GET `url`. */
export function httpGet(url: string): string | null {
  return httpRequest("GET", url, "");
}

/** POST `body` to `url`. */
export function httpPost(url: string, body: string): string | null {
  return httpRequest("POST", url, body);
}

// ----------------------------------------------------------------- log

/** One log line at `level` (Level.DEBUG .. Level.ERROR). */
export function log(level: i32, msg: string): i32 {
  const b = utf8(msg);
  return done(raw.log(level, b.dataStart, b.length));
}

export function logDebug(msg: string): i32 {
  return log(Level.DEBUG, msg);
}

export function logInfo(msg: string): i32 {
  return log(Level.INFO, msg);
}

export function logWarn(msg: string): i32 {
  return log(Level.WARN, msg);
}

export function logError(msg: string): i32 {
  return log(Level.ERROR, msg);
}

// ---------------------------------------------------------- the rest

/** The text of the last failed host call ("" when none). */
export function errorMessage(): string {
  let cap: i32 = 256;
  for (let i = 0; i < 3; i++) {
    const buf = new Uint8Array(cap);
    const n = raw.error_message(buf.dataStart, cap);
    if (n <= 0) return "";
    if (n <= cap) return fromUtf8(buf.subarray(0, n));
    cap = n;
  }
  return "";
}

/** Ends a failed call: logs "skill failed: NAME (CODE)" at level error,
 * with the text of the last failed host call when there is one, and
 * returns `code` for cis_main to return. The Rust SDK's `run` says the
 * same. */
export function failWith(code: i32): i32 {
  if (code >= 0) code = ErrorCode.INTERNAL;
  const why = errorMessage();
  let line = "skill failed: " + errorName(code) + " (" + code.toString() + ")";
  if (why.length > 0) line += " (last host error: " + why + ")";
  log(Level.ERROR, line);
  return code;
}

/** Milliseconds left before the call's deadline; -1 when it has none. */
export function remainingMs(): i64 {
  const ms = raw.remaining_ms();
  return ms == i64.MAX_VALUE ? -1 : ms;
}

/** The abort handler: logs what failed, then traps. Build with
 * `--use abort=<this folder>/index/cisAbort` so the module imports no
 * `env.abort`. */
export function cisAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "abort";
  if (message !== null) text += ": " + message;
  if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  log(Level.ERROR, text);
  unreachable();
}

export * from "./json";
