//! Safe Rust bindings for writing cis skills against the `cis_v1` ABI
//! (docs/abi.md in the cis repository).
//!
//! A skill is a `cdylib` (or a `#![no_main]` binary) built for
//! `wasm32-unknown-unknown` that exports `cis_main`. Write the skill's body
//! as a function returning [`Result<()>`] and let [`cis_main!`] export it:
//!
//! ```ignore
//! use cis_skill::{json::Value, Level};
//!
//! fn run() -> cis_skill::Result<()> {
//!     let input = cis_skill::input_json()?;
//!     let name = input.get("name").and_then(Value::as_str).unwrap_or("world");
//!     cis_skill::log(Level::Info, "greeting")?;
//!     cis_skill::kv_set("last", name)?;
//!     cis_skill::output_json(&Value::object().with("hello", name))
//! }
//!
//! cis_skill::cis_main!(run);
//! ```
//!
//! Every wrapper maps the host's negative codes to [`Error`]. Functions that
//! fetch an answer of unknown size (`kv_get`, `ai_chat`, `http_request`,
//! `error_message`) follow the ABI's convention for the caller: they start
//! with a small buffer and, when the host reports a larger full length,
//! retry once with a buffer of exactly that size.
//!
//! The crate is `no_std`. With the default `alloc` feature it returns owned
//! `Vec`/`String` results and offers the [`json`] module; without it only
//! the caller-buffer functions (`*_into`) remain.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod error;
pub mod raw;

#[cfg(feature = "alloc")]
pub mod json;

pub use error::{Error, Result};

use core::fmt;
use error::{check32, check64};

#[cfg(feature = "alloc")]
use alloc::{string::String, vec::Vec};

/// Log levels of the `log` host call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum Level {
    /// 0
    Debug = 0,
    /// 1
    Info = 1,
    /// 2
    Warn = 2,
    /// 3
    Error = 3,
}

/// A slice length as the ABI's `i32`, or `TooLarge`.
fn len32(n: usize) -> Result<i32> {
    if n > i32::MAX as usize {
        Err(Error::TooLarge)
    } else {
        Ok(n as i32)
    }
}

// ------------------------------------------------------------------ input

/// Length of the call's JSON input in bytes.
pub fn input_len() -> Result<u64> {
    // SAFETY: no arguments.
    check64(unsafe { raw::input_len() })
}

/// Copies input bytes starting at `offset` into `buf`. Returns the count
/// copied: less than `buf.len()` only at the end of the input, 0 past it.
pub fn input_read(offset: u64, buf: &mut [u8]) -> Result<usize> {
    if offset > i64::MAX as u64 {
        return Err(Error::Invalid);
    }
    let cap = buf.len().min(i32::MAX as usize) as i32;
    // SAFETY: the host writes at most `cap` bytes into `buf`.
    let n = check32(unsafe { raw::input_read(offset as i64, buf.as_mut_ptr(), cap) })?;
    Ok(n as usize)
}

/// Reads the whole input into `buf`; returns its length, or `TooLarge`
/// (with nothing meaningful in `buf`) when it does not fit.
pub fn input_into(buf: &mut [u8]) -> Result<usize> {
    let n = input_len()?;
    if n > buf.len() as u64 {
        return Err(Error::TooLarge);
    }
    let n = n as usize;
    let mut done = 0;
    while done < n {
        let got = input_read(done as u64, &mut buf[done..n])?;
        if got == 0 {
            return Err(Error::Internal);
        }
        done += got;
    }
    Ok(n)
}

/// The whole input, read in chunks (inputs of any size stream in).
#[cfg(feature = "alloc")]
pub fn input() -> Result<Vec<u8>> {
    let n = input_len()?;
    if n > isize::MAX as u64 {
        return Err(Error::TooLarge);
    }
    let mut v = alloc::vec![0u8; n as usize];
    let got = input_into(&mut v)?;
    v.truncate(got);
    Ok(v)
}

/// The whole input as text (`Invalid` when it is not UTF-8).
#[cfg(feature = "alloc")]
pub fn input_string() -> Result<String> {
    String::from_utf8(input()?).map_err(|_| Error::Invalid)
}

/// The input parsed as JSON. `Invalid` when it does not parse: the host
/// checks the input before the skill starts, but its parser lets through
/// a few things RFC 8259 forbids (raw control characters inside strings),
/// which this parser refuses.
#[cfg(feature = "alloc")]
pub fn input_json() -> Result<json::Value> {
    let text = input_string()?;
    json::Value::parse(&text).map_err(|_| Error::Invalid)
}

// ----------------------------------------------------------------- output

/// Appends bytes to the call's output. The whole output must be one JSON
/// document when `cis_main` returns.
pub fn output(bytes: &[u8]) -> Result<()> {
    for chunk in bytes.chunks(i32::MAX as usize) {
        // SAFETY: the host reads `chunk.len()` bytes from `chunk`.
        check32(unsafe { raw::output_write(chunk.as_ptr(), chunk.len() as i32) })?;
    }
    Ok(())
}

/// Appends text to the call's output.
pub fn output_str(s: &str) -> Result<()> {
    output(s.as_bytes())
}

/// Writes `value` as the call's output.
#[cfg(feature = "alloc")]
pub fn output_json(value: &json::Value) -> Result<()> {
    output_str(&value.to_json())
}

/// The output as a [`core::fmt::Write`] sink: `write!(Output, ...)` appends
/// to the call's output without building a string first.
#[derive(Clone, Copy, Debug, Default)]
pub struct Output;

impl fmt::Write for Output {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        output_str(s).map_err(|_| fmt::Error)
    }
}

// --------------------------------------------------- answers of any size

/// Calls `f(ptr, cap)` with a growing buffer until the answer fits.
#[cfg(feature = "alloc")]
fn fetch(first_cap: usize, mut f: impl FnMut(*mut u8, i32) -> i64) -> Result<Vec<u8>> {
    let mut cap = first_cap;
    // The answer may change between two calls (another write in the same
    // call, for instance), so keep retrying a few times.
    for _ in 0..4 {
        let mut buf: Vec<u8> = Vec::with_capacity(cap);
        let n = check64(f(buf.as_mut_ptr(), len32(cap)?))?;
        if n <= cap as u64 {
            // SAFETY: the host wrote exactly `n <= cap` bytes into the buffer.
            unsafe { buf.set_len(n as usize) };
            return Ok(buf);
        }
        if n > i32::MAX as u64 {
            return Err(Error::TooLarge);
        }
        cap = n as usize;
    }
    Err(Error::Internal)
}

#[cfg(feature = "alloc")]
fn into_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

// --------------------------------------------------------------------- KV

/// Reads a value into `buf`. Returns the value's full length: when it is
/// larger than `buf.len()` nothing was written; call again with a buffer
/// of that size. `NotFound` when the key is absent.
pub fn kv_get_into(key: impl AsRef<[u8]>, buf: &mut [u8]) -> Result<usize> {
    let key = key.as_ref();
    let cap = buf.len().min(i32::MAX as usize) as i32;
    // SAFETY: the host reads the key and writes at most `cap` bytes to buf.
    let n = check64(unsafe { raw::kv_get(key.as_ptr(), len32(key.len())?, buf.as_mut_ptr(), cap) })?;
    Ok(n as usize)
}

/// The value stored under `key`, or `None` when it is absent.
#[cfg(feature = "alloc")]
pub fn kv_get(key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
    let key = key.as_ref();
    let kl = len32(key.len())?;
    // SAFETY: the host reads the key and writes at most `cap` bytes to ptr.
    match fetch(256, |ptr, cap| unsafe { raw::kv_get(key.as_ptr(), kl, ptr, cap) }) {
        Ok(v) => Ok(Some(v)),
        Err(Error::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The value stored under `key` as text (`Invalid` when not UTF-8), or
/// `None` when it is absent.
#[cfg(feature = "alloc")]
pub fn kv_get_string(key: impl AsRef<[u8]>) -> Result<Option<String>> {
    match kv_get(key)? {
        Some(v) => String::from_utf8(v).map(Some).map_err(|_| Error::Invalid),
        None => Ok(None),
    }
}

/// Stores `value` under `key`. Like every write of the call, it is
/// committed only when `cis_main` succeeds.
pub fn kv_set(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
    let (key, value) = (key.as_ref(), value.as_ref());
    // SAFETY: the host reads both slices within their lengths.
    check32(unsafe {
        raw::kv_set(key.as_ptr(), len32(key.len())?, value.as_ptr(), len32(value.len())?)
    })?;
    Ok(())
}

/// Deletes `key`. Returns `false` when it was absent.
pub fn kv_delete(key: impl AsRef<[u8]>) -> Result<bool> {
    let key = key.as_ref();
    // SAFETY: the host reads the key within its length.
    match check32(unsafe { raw::kv_delete(key.as_ptr(), len32(key.len())?) }) {
        Ok(_) => Ok(true),
        Err(Error::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Atomically adds `delta` to the integer stored (as decimal text) under
/// `key`, an absent key counting as 0, and returns the new value. Use it,
/// not [`kv_get`] + [`kv_set`], for counters and ids that concurrent calls
/// share: it holds the skill's KV lock until the call ends, so no update
/// is lost, and like every write it commits only when the call succeeds.
/// `delta` 0 reads the value under the lock. `Invalid` when the value is
/// not such an integer or the sum overflows.
pub fn kv_increment(key: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
    let key = key.as_ref();
    let mut out: i64 = 0;
    // SAFETY: the host reads the key and writes 8 bytes at &mut out.
    check32(unsafe { raw::kv_increment(key.as_ptr(), len32(key.len())?, delta, &mut out) })?;
    Ok(out)
}

/// Atomically stores `value` under `key` only when the key now holds
/// exactly `expect` (`None`: only when it is absent). Returns whether it
/// swapped. Atomic and transactional as [`kv_increment`].
pub fn kv_cas(key: impl AsRef<[u8]>, expect: Option<&[u8]>, value: impl AsRef<[u8]>) -> Result<bool> {
    let (key, value) = (key.as_ref(), value.as_ref());
    let (ep, el) = match expect {
        Some(e) => (e.as_ptr(), len32(e.len())?),
        None => (core::ptr::null(), -1),
    };
    // SAFETY: the host reads the three slices within their lengths (none
    // for an absent expectation).
    let r = check32(unsafe {
        raw::kv_cas(key.as_ptr(), len32(key.len())?, ep, el, value.as_ptr(), len32(value.len())?)
    })?;
    Ok(r == 1)
}

// ------------------------------------------------------------- AI and HTTP

/// Sends `prompt` to the configured AI provider and returns its reply
/// (invalid UTF-8 in the reply is replaced by U+FFFD).
#[cfg(feature = "alloc")]
pub fn ai_chat(prompt: &str) -> Result<String> {
    let p = prompt.as_bytes();
    let pl = len32(p.len())?;
    // SAFETY: the host reads the prompt and writes at most `cap` bytes to ptr.
    let reply = fetch(4096, |ptr, cap| unsafe { raw::ai_chat(p.as_ptr(), pl, ptr, cap) })?;
    Ok(into_text(reply))
}

/// Makes an HTTP request (`method` such as `"GET"` or `"POST"`, an empty
/// `body` for none) to a URL the skill's permissions allow, and returns the
/// response body. The body comes back whatever the HTTP status: `cis_v1`
/// does not pass the status on, and a status of 400 or more is not an
/// error. `Denied` when the URL (or a redirect) is off the allow-list,
/// `Unavailable` when the server cannot be reached, `Invalid` for a bad
/// URL or method.
#[cfg(feature = "alloc")]
pub fn http_request(method: &str, url: &str, body: &[u8]) -> Result<Vec<u8>> {
    let (m, u) = (method.as_bytes(), url.as_bytes());
    let (ml, ul, bl) = (len32(m.len())?, len32(u.len())?, len32(body.len())?);
    fetch(4096, |ptr, cap| {
        // SAFETY: the host reads the three inputs and writes at most `cap`
        // bytes to ptr.
        unsafe { raw::http_request(m.as_ptr(), ml, u.as_ptr(), ul, body.as_ptr(), bl, ptr, cap) }
    })
}

/// `GET url`, returning the body.
#[cfg(feature = "alloc")]
pub fn http_get(url: &str) -> Result<Vec<u8>> {
    http_request("GET", url, &[])
}

/// `POST url` with `body`, returning the response body.
#[cfg(feature = "alloc")]
pub fn http_post(url: &str, body: &[u8]) -> Result<Vec<u8>> {
    http_request("POST", url, body)
}

// -------------------------------------------------------------------- log

/// Writes one log line.
pub fn log(level: Level, msg: &str) -> Result<()> {
    let m = msg.as_bytes();
    let len = m.len().min(i32::MAX as usize) as i32;
    // SAFETY: the host reads `len` bytes of the message.
    check32(unsafe { raw::log(level as i32, m.as_ptr(), len) })?;
    Ok(())
}

/// Writes one formatted log line; used by [`log!`](crate::log!) and friends.
/// Without the `alloc` feature the line is cut at 1024 bytes.
pub fn log_fmt(level: Level, args: fmt::Arguments<'_>) -> Result<()> {
    if let Some(s) = args.as_str() {
        return log(level, s);
    }
    #[cfg(feature = "alloc")]
    {
        log(level, &alloc::fmt::format(args))
    }
    #[cfg(not(feature = "alloc"))]
    {
        let mut line = StackLine { buf: [0; 1024], len: 0 };
        let _ = fmt::write(&mut line, args);
        // StackLine only cuts at a character boundary.
        log(level, core::str::from_utf8(&line.buf[..line.len]).unwrap_or(""))
    }
}

#[cfg(not(feature = "alloc"))]
struct StackLine {
    buf: [u8; 1024],
    len: usize,
}

#[cfg(not(feature = "alloc"))]
impl fmt::Write for StackLine {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

/// `log!(Level::Info, "stored {} keys", n)`: a formatted log line. Its
/// result is a [`Result<()>`]; most skills ignore it.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {
        $crate::log_fmt($level, ::core::format_args!($($arg)+))
    };
}

/// A formatted log line at level debug.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log_fmt($crate::Level::Debug, ::core::format_args!($($arg)+)) };
}

/// A formatted log line at level info.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log_fmt($crate::Level::Info, ::core::format_args!($($arg)+)) };
}

/// A formatted log line at level warn.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log_fmt($crate::Level::Warn, ::core::format_args!($($arg)+)) };
}

/// A formatted log line at level error.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log_fmt($crate::Level::Error, ::core::format_args!($($arg)+)) };
}

// ----------------------------------------------------------- the rest

/// Copies the text of the last failed host call into `buf`; returns its
/// full length (nothing written when larger than `buf.len()`).
pub fn error_message_into(buf: &mut [u8]) -> usize {
    let cap = buf.len().min(i32::MAX as usize) as i32;
    // SAFETY: the host writes at most `cap` bytes into buf.
    let n = unsafe { raw::error_message(buf.as_mut_ptr(), cap) };
    if n < 0 {
        0
    } else {
        n as usize
    }
}

/// The text of the last failed host call ("" when there is none).
#[cfg(feature = "alloc")]
pub fn error_message() -> String {
    // SAFETY: the host writes at most `cap` bytes to ptr.
    let text = fetch(256, |ptr, cap| unsafe { raw::error_message(ptr, cap) } as i64);
    text.map(into_text).unwrap_or_default()
}

/// Milliseconds left before the call's deadline, or `None` when the call
/// has no deadline.
pub fn remaining_ms() -> Option<u64> {
    // SAFETY: no arguments.
    let ms = unsafe { raw::remaining_ms() };
    if ms == i64::MAX {
        None
    } else {
        Some(ms.max(0) as u64)
    }
}

/// Reads the operator's setting `key` into `buf`: its full length, the
/// value written only when it fits (as [`kv_get_into`]). `NotFound` when
/// the setting is not there.
pub fn config_get_into(key: impl AsRef<[u8]>, buf: &mut [u8]) -> Result<usize> {
    let key = key.as_ref();
    let cap = buf.len().min(i32::MAX as usize) as i32;
    // SAFETY: the host reads the key and writes at most `cap` bytes to buf.
    let n = check64(unsafe { raw::config_get(key.as_ptr(), len32(key.len())?, buf.as_mut_ptr(), cap) })?;
    Ok(n as usize)
}

/// The operator's setting `key` (`cis skill config set NAME KEY VALUE`,
/// or `cis skill run --config KEY=VALUE` for one call), or `None` when it
/// is not set.
#[cfg(feature = "alloc")]
pub fn config_get(key: impl AsRef<[u8]>) -> Result<Option<String>> {
    let key = key.as_ref();
    let kl = len32(key.len())?;
    // SAFETY: the host reads the key and writes at most `cap` bytes to ptr.
    match fetch(64, |ptr, cap| unsafe { raw::config_get(key.as_ptr(), kl, ptr, cap) }) {
        Ok(v) => String::from_utf8(v).map(Some).map_err(|_| Error::Invalid),
        Err(Error::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Runs a skill body and turns its result into `cis_main`'s return value:
/// 0 on success; on failure the error is logged (with the text of the last
/// failed host call, when there was one) and its negative code returned. Used by
/// [`cis_main!`]; call it yourself from a hand-written `cis_main` if you
/// prefer.
pub fn run(body: impl FnOnce() -> Result<()>) -> i32 {
    match body() {
        Ok(()) => 0,
        Err(e) => {
            let mut msg = [0u8; 256];
            let n = error_message_into(&mut msg);
            let text = if n > 0 && n <= msg.len() {
                core::str::from_utf8(&msg[..n]).unwrap_or("")
            } else {
                ""
            };
            let _ = if text.is_empty() {
                log_fmt(Level::Error, format_args!("skill failed: {}", e))
            } else {
                log_fmt(Level::Error, format_args!("skill failed: {} (last host error: {})", e, text))
            };
            e.code()
        }
    }
}

/// Exports `cis_main` running the given `fn() -> cis_skill::Result<()>`:
///
/// ```ignore
/// fn run() -> cis_skill::Result<()> { cis_skill::output_str("{}") }
/// cis_skill::cis_main!(run);
/// ```
#[macro_export]
macro_rules! cis_main {
    ($body:path) => {
        #[no_mangle]
        pub extern "C" fn cis_main() -> i32 {
            $crate::run($body)
        }
    };
}

// The tests use owned results; `cargo test --no-default-features` builds
// the crate without them.
#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::vec;

    /// A host stand-in for `fetch`: answers `len` bytes of `b'a' + call`
    /// when they fit, else only the full length.
    fn host(answers: &'static [i64]) -> impl FnMut(*mut u8, i32) -> i64 {
        let mut call = 0usize;
        move |ptr, cap| {
            let n = answers[call.min(answers.len() - 1)];
            call += 1;
            if n >= 0 && n <= cap as i64 {
                // SAFETY: fetch hands us a buffer of `cap` bytes.
                unsafe { core::ptr::write_bytes(ptr, b'a' + call as u8, n as usize) };
            }
            n
        }
    }

    #[test]
    fn fetch_fits_first_time() {
        assert_eq!(fetch(8, host(&[3])).unwrap(), b"bbb");
        assert_eq!(fetch(8, host(&[0])).unwrap(), b"");
        assert_eq!(fetch(0, host(&[0])).unwrap(), b"");
    }

    #[test]
    fn fetch_retries_with_the_full_length() {
        // 300 does not fit in 256: the second call gets exactly 300 bytes.
        let mut caps = vec![];
        let got = fetch(256, |ptr, cap| {
            caps.push(cap);
            if cap >= 300 {
                // SAFETY: the buffer holds `cap` bytes.
                unsafe { core::ptr::write_bytes(ptr, b'x', 300) };
            }
            300
        })
        .unwrap();
        assert_eq!(caps, [256, 300]);
        assert_eq!(got.len(), 300);
        assert!(got.iter().all(|&b| b == b'x'));
    }

    #[test]
    fn fetch_follows_an_answer_that_grows() {
        // The value grew between the two calls: retry again.
        assert_eq!(fetch(4, host(&[10, 20, 20])).unwrap().len(), 20);
    }

    #[test]
    fn fetch_gives_up_and_maps_errors() {
        // An answer that keeps growing: INTERNAL after four tries.
        assert_eq!(fetch(1, host(&[2, 3, 4, 5, 6])), Err(Error::Internal));
        // Above what an i32 capacity can ask for.
        assert_eq!(fetch(1, host(&[i32::MAX as i64 + 1])), Err(Error::TooLarge));
        assert_eq!(fetch(1, host(&[-1])), Err(Error::NotFound));
        assert_eq!(fetch(1, host(&[-8])), Err(Error::Upstream));
        assert_eq!(fetch(1, host(&[-99])), Err(Error::Other(-99)));
    }

    #[test]
    fn error_codes_round_trip() {
        for code in -12..=-1i64 {
            let e = Error::from_code(code);
            assert_eq!(e.code() as i64, code);
            assert_ne!(e.name(), "OTHER");
        }
        assert_eq!(Error::from_code(-13), Error::Other(-13));
        assert_eq!(Error::Other(-13).code(), -13);
        assert_eq!(Error::Other(5).code(), -12);
        assert_eq!(Error::from_code(0), Error::Internal);
        assert_eq!(Error::from_code(i64::MIN), Error::Internal);
        assert_eq!(Error::Quota.to_string(), "QUOTA (-9)");
    }

    #[test]
    fn lengths_and_levels() {
        assert_eq!(len32(7), Ok(7));
        assert_eq!(len32(i32::MAX as usize + 1), Err(Error::TooLarge));
        assert!(Level::Debug < Level::Error);
        assert_eq!(Level::Warn as i32, 2);
    }

    #[test]
    fn off_wasm_there_is_no_host() {
        // The stand-ins: an empty input, and every service fails INTERNAL.
        assert_eq!(input_len(), Ok(0));
        assert_eq!(input().unwrap(), b"");
        assert_eq!(kv_get("k"), Err(Error::Internal));
        assert_eq!(output_str("{}"), Err(Error::Internal));
        assert_eq!(remaining_ms(), None);
        assert_eq!(run(|| Ok(())), 0);
        assert_eq!(run(|| Err(Error::Quota)), -9);
        let mut small = [0u8; 0];
        assert_eq!(input_into(&mut small), Ok(0));
    }
}
