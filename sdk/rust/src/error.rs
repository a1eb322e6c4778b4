//! The error codes the host returns to a skill (docs/abi.md, "Error codes
//! returned to the guest").

use core::fmt;

/// A failed host call, or a skill's own failure reported with one of the
/// same codes. `cis_main` returns [`Error::code`] when a skill fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// -1: the key is absent.
    NotFound,
    /// -2: the skill's permissions do not grant this.
    Denied,
    /// -3: a key, value, prompt, URL, body, reply or output above its limit.
    TooLarge,
    /// -4: the call's deadline passed during the host call.
    Timeout,
    /// -5: a backend (database, network) is down.
    Unavailable,
    /// -6: a bad argument (bad level, empty key, bad URL, bad UTF-8, bad JSON).
    Invalid,
    /// -7: no AI provider is configured.
    NoProvider,
    /// -8: the AI or HTTP upstream failed or answered something malformed.
    Upstream,
    /// -9: the KV namespace quota (keys or bytes) is exceeded.
    Quota,
    /// -10: the guest exports no allocator (seed 002 ABI only).
    NoAllocator,
    /// -11: the guest allocator failed (seed 002 ABI only).
    AllocFailed,
    /// -12: any other host failure.
    Internal,
    /// A negative code this version of the crate does not name.
    Other(i32),
}

/// `Result` with [`Error`] as its error type.
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// The error of a negative code; codes this crate does not know become
    /// [`Error::Other`]. A non-negative value is not an error: it maps to
    /// [`Error::Internal`].
    pub fn from_code(code: i64) -> Error {
        match code {
            -1 => Error::NotFound,
            -2 => Error::Denied,
            -3 => Error::TooLarge,
            -4 => Error::Timeout,
            -5 => Error::Unavailable,
            -6 => Error::Invalid,
            -7 => Error::NoProvider,
            -8 => Error::Upstream,
            -9 => Error::Quota,
            -10 => Error::NoAllocator,
            -11 => Error::AllocFailed,
            -12 => Error::Internal,
            c if c < 0 && c >= i32::MIN as i64 => Error::Other(c as i32),
            _ => Error::Internal,
        }
    }

    /// The code of the ABI (always negative).
    pub fn code(self) -> i32 {
        match self {
            Error::NotFound => -1,
            Error::Denied => -2,
            Error::TooLarge => -3,
            Error::Timeout => -4,
            Error::Unavailable => -5,
            Error::Invalid => -6,
            Error::NoProvider => -7,
            Error::Upstream => -8,
            Error::Quota => -9,
            Error::NoAllocator => -10,
            Error::AllocFailed => -11,
            Error::Internal => -12,
            Error::Other(c) if c < 0 => c,
            Error::Other(_) => -12,
        }
    }

    /// The ABI's name of the code, e.g. `"NOT_FOUND"`.
    pub fn name(self) -> &'static str {
        match self {
            Error::NotFound => "NOT_FOUND",
            Error::Denied => "DENIED",
            Error::TooLarge => "TOO_LARGE",
            Error::Timeout => "TIMEOUT",
            Error::Unavailable => "UNAVAILABLE",
            Error::Invalid => "INVALID",
            Error::NoProvider => "NO_PROVIDER",
            Error::Upstream => "UPSTREAM",
            Error::Quota => "QUOTA",
            Error::NoAllocator => "NO_ALLOCATOR",
            Error::AllocFailed => "ALLOC_FAILED",
            Error::Internal => "INTERNAL",
            Error::Other(_) => "OTHER",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// Turns an `i64` host result into a length or an error.
pub(crate) fn check64(r: i64) -> Result<u64> {
    if r < 0 {
        Err(Error::from_code(r))
    } else {
        Ok(r as u64)
    }
}

/// Turns an `i32` host result into a count or an error.
pub(crate) fn check32(r: i32) -> Result<u32> {
    if r < 0 {
        Err(Error::from_code(r as i64))
    } else {
        Ok(r as u32)
    }
}
