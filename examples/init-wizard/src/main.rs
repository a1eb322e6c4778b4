//! init-wizard: an example cis skill written in Rust with the cis-skill SDK.
//!
//! It takes a project description such as
//! `{"project":"demo","language":"rust"}` (optional: "description",
//! "license", "reset"), works out a starter configuration for that
//! language, keeps it in the skill's KV memory under `config:<project>`,
//! reads it back to check it was stored, counts the runs for the project
//! and answers with the configuration as JSON. A second run for the same
//! project reports the stored configuration as "previous".
//!
//! Build: cargo build --release --target wasm32-unknown-unknown
//! Run:   cis skill run --wasm target/wasm32-unknown-unknown/release/init-wizard.wasm \
//!            --kv --input '{"project":"demo","language":"rust"}'

// The module's entry is cis_main (exported by cis_main! below), not a Rust
// main; being a binary keeps the module's file name init-wizard.wasm.
#![no_main]

use cis_skill::json::Value;
use cis_skill::{info, warn, Error, Result};

/// What the wizard sets up for one language.
struct Layout {
    language: &'static str,
    aliases: &'static [&'static str],
    source_dir: &'static str,
    entry: &'static str,
    build: &'static str,
    test: &'static str,
    ignore: &'static [&'static str],
}

const LAYOUTS: &[Layout] = &[
    Layout {
        language: "rust",
        aliases: &["rs"],
        source_dir: "src",
        entry: "src/main.rs",
        build: "cargo build --release",
        test: "cargo test",
        ignore: &["target/"],
    },
    Layout {
        language: "c",
        aliases: &[],
        source_dir: "src",
        entry: "src/main.c",
        build: "cmake -S . -B build && cmake --build build",
        test: "ctest --test-dir build",
        ignore: &["build/"],
    },
    Layout {
        language: "go",
        aliases: &["golang"],
        source_dir: ".",
        entry: "main.go",
        build: "go build ./...",
        test: "go test ./...",
        ignore: &["bin/"],
    },
    Layout {
        language: "python",
        aliases: &["py"],
        source_dir: "src",
        entry: "src/main.py",
        build: "python3 -m build",
        test: "python3 -m pytest",
        ignore: &["__pycache__/", ".venv/", "dist/"],
    },
    Layout {
        language: "typescript",
        aliases: &["ts", "javascript", "js", "assemblyscript"],
        source_dir: "src",
        entry: "src/index.ts",
        build: "npm run build",
        test: "npm test",
        ignore: &["node_modules/", "dist/"],
    },
];

fn find_layout(language: &str) -> Option<&'static Layout> {
    let lang = language.to_ascii_lowercase();
    LAYOUTS.iter().find(|l| l.language == lang || l.aliases.contains(&lang.as_str()))
}

/// A project name: 1 to 64 letters, digits, '.', '_' or '-', starting with
/// a letter or digit (so it is also a safe folder name).
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

fn text_field<'a>(input: &'a Value, key: &str, default: &'a str) -> Result<&'a str> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) => Ok(s),
        Some(_) => {
            let _ = cis_skill::error!("\"{}\" must be a string", key);
            Err(Error::Invalid)
        }
    }
}

fn run() -> Result<()> {
    let mut steps = Value::array();

    // 1. The input.
    let input = cis_skill::input_json()?;
    if input.as_object().is_none() {
        let _ = cis_skill::error!("the input must be a JSON object");
        return Err(Error::Invalid);
    }
    let project = text_field(&input, "project", "my-project")?;
    let language = text_field(&input, "language", "rust")?;
    let description = text_field(&input, "description", "")?;
    let license = text_field(&input, "license", "MIT")?;
    let reset = input["reset"].as_bool().unwrap_or(false);
    if !valid_name(project) {
        let _ = cis_skill::error!("bad project name {:?}: use 1-64 letters, digits, '.', '_' or '-'", project);
        return Err(Error::Invalid);
    }
    let layout = match find_layout(language) {
        Some(l) => l,
        None => {
            let known: Vec<&str> = LAYOUTS.iter().map(|l| l.language).collect();
            let _ = cis_skill::error!("unknown language {:?}; known: {}", language, known.join(", "));
            return Err(Error::Invalid);
        }
    };
    let _ = info!("init-wizard: setting up {} ({})", project, layout.language);
    if let Some(ms) = cis_skill::remaining_ms() {
        let _ = cis_skill::debug!("init-wizard: {} ms left", ms);
    }
    steps.push(format!("validated input for {}", project));

    // 2. The configuration.
    let ignore: Vec<Value> = layout.ignore.iter().map(|s| Value::from(*s)).collect();
    let config = Value::object()
        .with("name", project)
        .with("language", layout.language)
        .with("description", description)
        .with("license", license)
        .with("source_dir", layout.source_dir)
        .with("entry", layout.entry)
        .with("build", layout.build)
        .with("test", layout.test)
        .with("ignore", ignore);
    steps.push(format!("chose the {} layout", layout.language));

    // 3. Storage: what an earlier run left, then this run's configuration.
    let key = format!("config:{}", project);
    let runs_key = format!("runs:{}", project);
    let mut out = Value::object()
        .with("project", project)
        .with("language", layout.language)
        .with("key", key.as_str());
    match store(&key, &runs_key, &config, reset, &mut steps) {
        Ok(stored) => {
            out.insert("stored", true);
            out.insert("created", stored.previous.is_none());
            out.insert("runs", stored.runs);
            out.insert("verified", stored.verified);
            out.insert("previous", stored.previous);
        }
        Err(Error::Denied) => {
            let _ = warn!("init-wizard: KV storage is not granted (grant kv in skill.json, or run with --kv); nothing kept");
            steps.push("skipped storage (not granted)");
            out.insert("stored", false);
            out.insert("verified", false);
        }
        Err(e) => return Err(e),
    }
    out.insert("config", config);
    out.insert("steps", steps);

    // 4. The answer.
    let _ = info!("init-wizard: done");
    cis_skill::output_json(&out)
}

struct Stored {
    previous: Option<Value>,
    runs: u64,
    verified: bool,
}

fn store(key: &str, runs_key: &str, config: &Value, reset: bool, steps: &mut Value) -> Result<Stored> {
    if reset {
        let had = cis_skill::kv_delete(key)?;
        cis_skill::kv_delete(runs_key)?;
        let _ = info!("init-wizard: reset {} ({})", key, if had { "deleted" } else { "was absent" });
        steps.push(format!("reset {}", key));
    }

    // The run counter is shared by concurrent calls: an atomic increment,
    // not a get + set (two calls would both read 3 and both write 4). It
    // also holds the skill's KV lock until this call ends, so the
    // configuration read next is the one the previous run left.
    let runs = cis_skill::kv_increment(runs_key, 1)?.max(0) as u64;
    let previous = match cis_skill::kv_get_string(key)? {
        Some(text) => {
            let _ = info!("init-wizard: found an earlier configuration under {}", key);
            Some(Value::parse(&text).unwrap_or(Value::String(text)))
        }
        None => None,
    };

    let text = config.to_json();
    cis_skill::kv_set(key, &text)?;
    let _ = info!("init-wizard: stored {} ({} bytes), run {}", key, text.len(), runs);
    steps.push(format!("stored {}", key));

    // Read it back: the same call sees its own writes.
    let back = cis_skill::kv_get(key)?;
    let verified = back.as_deref() == Some(text.as_bytes());
    if verified {
        let _ = info!("init-wizard: read back {}: ok", key);
    } else {
        let _ = cis_skill::error!("init-wizard: read back {}: the stored value differs", key);
    }
    steps.push(format!("read back {}", key));
    Ok(Stored { previous, runs, verified })
}

cis_skill::cis_main!(run);
