//! The Rust SDK's probe skill: each input `{"op": ...}` exercises one part
//! of the cis-skill crate against the real host, and answers exactly what
//! the AssemblyScript probe answers for the same input, so that
//! tests/sdk/test_sdk.c checks both SDKs with one set of expectations.
//!
//! A failed host call is an answer too: `{"error": NAME, "code": C,
//! "message": TEXT}`, with the host's text from `error_message`.
#![no_main]

use core::fmt::Write;
use cis_skill::json::Value;
use cis_skill::{Error, Level, Output, Result};

fn text<'a>(input: &'a Value, key: &str) -> &'a str {
    input[key].as_str().unwrap_or("")
}

/// The value the "kv" operation stores: `size` letters a..z repeated.
fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

fn op(input: &Value) -> Result<Value> {
    match text(input, "op") {
        "echo" => {
            let bytes = cis_skill::input()?;
            let sum = bytes.iter().fold(0u32, |s, &b| s.wrapping_add(b as u32));
            Ok(Value::object().with("len", bytes.len()).with("sum", sum))
        }
        "kv" => {
            let key = text(input, "key");
            let value = pattern(input["size"].as_i64().unwrap_or(0) as usize);
            cis_skill::kv_set(key, &value)?;
            let got = cis_skill::kv_get(key)?;
            let deleted = cis_skill::kv_delete(key)?;
            let again = cis_skill::kv_delete(key)?;
            let after = cis_skill::kv_get_string(key)?;
            Ok(Value::object()
                .with("len", got.as_ref().map_or(0, |v| v.len()))
                .with("same", got.as_deref() == Some(&value[..]))
                .with("deleted", deleted)
                .with("again", again)
                .with("after", after))
        }
        "kv_into" => {
            // The caller-buffer form: a full length larger than the buffer
            // writes nothing; a buffer of that length gets the value.
            let key = text(input, "key");
            let mut small = [b'#'; 8];
            let n = cis_skill::kv_get_into(key, &mut small)?;
            let mut exact = vec![0u8; n];
            let m = cis_skill::kv_get_into(key, &mut exact)?;
            Ok(Value::object()
                .with("full", n)
                .with("untouched", small == [b'#'; 8])
                .with("again", m)
                .with("value", String::from_utf8_lossy(&exact).into_owned()))
        }
        "atomic" => {
            // The atomic operations: an increment, then a compare-and-swap
            // expecting absence, a wrong value and the right one.
            let key = text(input, "key");
            let value = cis_skill::kv_increment(key, input["delta"].as_i64().unwrap_or(0))?;
            let ck = format!("{}:c", key);
            let absent = cis_skill::kv_cas(&ck, None, "a")?;
            let wrong = cis_skill::kv_cas(&ck, Some(&b"x"[..]), "b")?;
            let swapped = cis_skill::kv_cas(&ck, Some(&b"a"[..]), "b")?;
            Ok(Value::object()
                .with("value", value)
                .with("absent", absent)
                .with("wrong", wrong)
                .with("swapped", swapped)
                .with("final", cis_skill::kv_get_string(&ck)?))
        }
        "set" => {
            cis_skill::kv_set(text(input, "key"), text(input, "value"))?;
            Ok(Value::object().with("ok", true))
        }
        "get" => Ok(Value::object().with("value", cis_skill::kv_get_string(text(input, "key"))?)),
        "ai" => Ok(Value::object().with("reply", cis_skill::ai_chat(text(input, "prompt"))?)),
        "http" => {
            let body = cis_skill::http_request(text(input, "method"), text(input, "url"), text(input, "body").as_bytes())?;
            let head = String::from_utf8_lossy(&body[..body.len().min(32)]).into_owned();
            Ok(Value::object().with("len", body.len()).with("head", head))
        }
        "log" => {
            cis_skill::debug!("probe debug {}", 1)?;
            cis_skill::info!("probe info {}", 2)?;
            cis_skill::warn!("probe warn {}", 3)?;
            cis_skill::log(Level::Error, "probe error 4")?;
            Ok(Value::object().with("logged", 4))
        }
        "remaining" => Ok(Value::object().with("remaining", cis_skill::remaining_ms())),
        "config" => {
            let key = text(input, "key");
            let need = match cis_skill::config_get_into(key, &mut []) {
                Ok(n) => n as i64,
                Err(e) => e.code() as i64,
            };
            Ok(Value::object().with("value", cis_skill::config_get(key)?).with("need", need))
        }
        _ => unreachable!("run() checks the op"),
    }
}

fn run() -> Result<()> {
    let input = cis_skill::input_json()?;
    match text(&input, "op") {
        // Ends the call with the given code through cis_main!'s error path.
        "fail" => return Err(Error::from_code(input["code"].as_i64().unwrap_or(-12))),
        // A failure inside the skill: a panic traps (panic = "abort").
        "abort" => panic!("probe abort"),
        // A large output written piece by piece through fmt::Write.
        "output" => {
            let n = input["n"].as_i64().unwrap_or(0) as usize;
            let mut out = Output;
            out.write_str("{\"s\":\"").map_err(|_| Error::Internal)?;
            let piece = "x".repeat(1000);
            let mut left = n;
            while left > 0 {
                let k = left.min(piece.len());
                write!(out, "{}", &piece[..k]).map_err(|_| Error::Internal)?;
                left -= k;
            }
            return cis_skill::output_str("\"}");
        }
        _ => {}
    }
    const OPS: &[&str] = &["echo", "kv", "kv_into", "atomic", "set", "get", "ai", "http", "log", "remaining", "config"];
    if !OPS.contains(&text(&input, "op")) {
        let _ = cis_skill::error!("unknown op {:?}", text(&input, "op"));
        return Err(Error::Invalid);
    }
    let answer = match op(&input) {
        Ok(v) => v,
        Err(e) => Value::object()
            .with("error", e.name())
            .with("code", e.code())
            .with("message", cis_skill::error_message()),
    };
    cis_skill::output_json(&answer)
}

cis_skill::cis_main!(run);
