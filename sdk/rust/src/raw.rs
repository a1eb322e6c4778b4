//! The `cis_v1` host imports exactly as docs/abi.md declares them.
//!
//! Every pointer is an offset into the skill's memory 0 and every length is
//! a byte count. Results of `i64` functions are a full length (`>= 0`) or a
//! negative guest error code; `i32` functions return 0 (or a count) or a
//! negative code. Prefer the safe wrappers at the crate root: they check
//! lengths, retry when a buffer was too small and map codes to [`Error`].
//!
//! On targets other than `wasm32` there is no host: these functions are
//! stand-ins that report an empty input and fail every service call with
//! `INTERNAL` (-12), so code that uses the crate still builds and its pure
//! parts (the `json` module) can be tested natively.
//!
//! [`Error`]: crate::Error

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "cis_v1")]
extern "C" {
    /// Length of the call's JSON input in bytes.
    pub fn input_len() -> i64;
    /// Copies up to `len` input bytes from `offset` to `ptr`; returns the
    /// count copied (0 at the end) or an error code.
    pub fn input_read(offset: i64, ptr: *mut u8, len: i32) -> i32;
    /// Appends `len` bytes at `ptr` to the call's output.
    pub fn output_write(ptr: *const u8, len: i32) -> i32;
    /// Returns the value's full length; writes it at `val_ptr` only when it
    /// fits in `val_cap`.
    pub fn kv_get(key_ptr: *const u8, key_len: i32, val_ptr: *mut u8, val_cap: i32) -> i64;
    /// Stores a value under a key (committed when the call succeeds).
    pub fn kv_set(key_ptr: *const u8, key_len: i32, val_ptr: *const u8, val_len: i32) -> i32;
    /// Deletes a key; `NOT_FOUND` (-1) when it was absent.
    pub fn kv_delete(key_ptr: *const u8, key_len: i32) -> i32;
    /// Atomically adds `delta` to the decimal integer under a key (absent =
    /// 0) and writes the new value at `out_ptr` (8 bytes, little-endian);
    /// returns 0 or an error code.
    pub fn kv_increment(key_ptr: *const u8, key_len: i32, delta: i64, out_ptr: *mut i64) -> i32;
    /// Atomically sets a key to the new value when it holds exactly the
    /// expected one (`expect_len` -1: when it is absent); returns 1
    /// (swapped), 0 (not) or an error code.
    pub fn kv_cas(
        key_ptr: *const u8,
        key_len: i32,
        expect_ptr: *const u8,
        expect_len: i32,
        val_ptr: *const u8,
        val_len: i32,
    ) -> i32;
    /// Sends a prompt to the configured AI provider; buffer convention as
    /// `kv_get` (a retry with the same prompt is served without a new request).
    pub fn ai_chat(prompt_ptr: *const u8, prompt_len: i32, out_ptr: *mut u8, out_cap: i32) -> i64;
    /// Makes an HTTP request allowed by the skill's permissions; the answer is
    /// the response body. Buffer convention as `ai_chat`.
    pub fn http_request(
        method_ptr: *const u8,
        method_len: i32,
        url_ptr: *const u8,
        url_len: i32,
        body_ptr: *const u8,
        body_len: i32,
        out_ptr: *mut u8,
        out_cap: i32,
    ) -> i64;
    /// Writes a log line at `level` (0 debug, 1 info, 2 warn, 3 error).
    pub fn log(level: i32, msg_ptr: *const u8, msg_len: i32) -> i32;
    /// Text of the last failed host call; returns its full length and writes
    /// it only when it fits in `cap`.
    pub fn error_message(ptr: *mut u8, cap: i32) -> i32;
    /// Milliseconds left before the call's deadline (`i64::MAX`: none).
    pub fn remaining_ms() -> i64;
    /// The operator's setting under a key (`cis skill config set`, `cis
    /// skill run --config`); buffer convention as `kv_get`, `NOT_FOUND` (-1)
    /// when it is not set.
    pub fn config_get(key_ptr: *const u8, key_len: i32, val_ptr: *mut u8, val_cap: i32) -> i64;
}

#[cfg(not(target_arch = "wasm32"))]
mod stand_in {
    const INTERNAL: i32 = -12;

    pub unsafe fn input_len() -> i64 {
        0
    }
    pub unsafe fn input_read(_offset: i64, _ptr: *mut u8, _len: i32) -> i32 {
        0
    }
    pub unsafe fn output_write(_ptr: *const u8, _len: i32) -> i32 {
        INTERNAL
    }
    pub unsafe fn kv_get(_key_ptr: *const u8, _key_len: i32, _val_ptr: *mut u8, _val_cap: i32) -> i64 {
        INTERNAL as i64
    }
    pub unsafe fn kv_set(_key_ptr: *const u8, _key_len: i32, _val_ptr: *const u8, _val_len: i32) -> i32 {
        INTERNAL
    }
    pub unsafe fn kv_delete(_key_ptr: *const u8, _key_len: i32) -> i32 {
        INTERNAL
    }
    pub unsafe fn kv_increment(_key_ptr: *const u8, _key_len: i32, _delta: i64, _out_ptr: *mut i64) -> i32 {
        INTERNAL
    }
    pub unsafe fn kv_cas(
        _key_ptr: *const u8,
        _key_len: i32,
        _expect_ptr: *const u8,
        _expect_len: i32,
        _val_ptr: *const u8,
        _val_len: i32,
    ) -> i32 {
        INTERNAL
    }
    pub unsafe fn ai_chat(_prompt_ptr: *const u8, _prompt_len: i32, _out_ptr: *mut u8, _out_cap: i32) -> i64 {
        INTERNAL as i64
    }
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn http_request(
        _method_ptr: *const u8,
        _method_len: i32,
        _url_ptr: *const u8,
        _url_len: i32,
        _body_ptr: *const u8,
        _body_len: i32,
        _out_ptr: *mut u8,
        _out_cap: i32,
    ) -> i64 {
        INTERNAL as i64
    }
    pub unsafe fn log(_level: i32, _msg_ptr: *const u8, _msg_len: i32) -> i32 {
        INTERNAL
    }
    pub unsafe fn error_message(_ptr: *mut u8, _cap: i32) -> i32 {
        0
    }
    pub unsafe fn remaining_ms() -> i64 {
        i64::MAX
    }
    pub unsafe fn config_get(_key_ptr: *const u8, _key_len: i32, _val_ptr: *mut u8, _val_cap: i32) -> i64 {
        INTERNAL as i64
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use stand_in::*;
