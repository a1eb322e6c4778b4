// The cis_v1 host imports exactly as docs/abi.md declares them.
//
// Pointers are offsets into the skill's memory, lengths are byte counts.
// i64 results are a full length (>= 0) or a negative error code; i32
// results are 0 (or a count) or a negative code. Prefer the helpers of
// index.ts: they encode strings as UTF-8, retry when a buffer was too
// small and keep the last error code.

/** Length of the call's JSON input in bytes. */
@external("cis_v1", "input_len")
export declare function input_len(): i64;

/** Copies up to `len` input bytes from `offset` to `ptr`; returns the count. */
@external("cis_v1", "input_read")
export declare function input_read(offset: i64, ptr: usize, len: i32): i32;

/** Appends `len` bytes at `ptr` to the call's output. */
@external("cis_v1", "output_write")
export declare function output_write(ptr: usize, len: i32): i32;

/** Full length of the value; written at `val_ptr` only when it fits `val_cap`. */
@external("cis_v1", "kv_get")
export declare function kv_get(key_ptr: usize, key_len: i32, val_ptr: usize, val_cap: i32): i64;

/** Stores a value (committed when the call succeeds). */
@external("cis_v1", "kv_set")
export declare function kv_set(key_ptr: usize, key_len: i32, val_ptr: usize, val_len: i32): i32;

/** Deletes a key; NOT_FOUND (-1) when it was absent. */
@external("cis_v1", "kv_delete")
export declare function kv_delete(key_ptr: usize, key_len: i32): i32;

/** Atomically adds delta to the decimal integer under a key (absent = 0);
 * the new value goes to out_ptr (8 bytes, little-endian). 0 or an error. */
@external("cis_v1", "kv_increment")
export declare function kv_increment(key_ptr: usize, key_len: i32, delta: i64, out_ptr: usize): i32;

/** Atomically sets a key when it holds exactly the expected value
 * (expect_len -1: when it is absent). 1 swapped, 0 not, or an error. */
@external("cis_v1", "kv_cas")
export declare function kv_cas(key_ptr: usize, key_len: i32, expect_ptr: usize, expect_len: i32,
                               val_ptr: usize, val_len: i32): i32;

/** Asks the AI provider; buffer convention as kv_get. */
@external("cis_v1", "ai_chat")
export declare function ai_chat(prompt_ptr: usize, prompt_len: i32, out_ptr: usize, out_cap: i32): i64;

/** An HTTP request allowed by the skill's permissions; the answer is the body. */
@external("cis_v1", "http_request")
export declare function http_request(
  method_ptr: usize, method_len: i32,
  url_ptr: usize, url_len: i32,
  body_ptr: usize, body_len: i32,
  out_ptr: usize, out_cap: i32
): i64;

/** A log line at `level` (0 debug, 1 info, 2 warn, 3 error). */
@external("cis_v1", "log")
export declare function log(level: i32, msg_ptr: usize, msg_len: i32): i32;

/** Text of the last failed host call: full length, written when it fits. */
@external("cis_v1", "error_message")
export declare function error_message(ptr: usize, cap: i32): i32;

/** Milliseconds left before the call's deadline (i64 max: none). */
@external("cis_v1", "remaining_ms")
export declare function remaining_ms(): i64;

/** The operator's setting under a key (cis skill config set, cis skill
 * run --config): buffer convention as kv_get; NOT_FOUND (-1) when unset. */
@external("cis_v1", "config_get")
export declare function config_get(key_ptr: usize, key_len: i32, val_ptr: usize, val_cap: i32): i64;
