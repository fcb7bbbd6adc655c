//! The boto3 scripts in `tests/python`: each talks to a server under test and prints what came
//! back as JSON for the Rust test to check.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Runs `tests/python/<name>` with `arguments` off the async runtime (the server under test
/// runs on it) and reads its JSON output; a failing script fails the test with its stderr.
pub(crate) async fn run(name: &str, arguments: Vec<String>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(name);
    let shown = arguments.join(" ");
    let run = tokio::task::spawn_blocking(move || Command::new("python3").arg(script).args(arguments).output())
        .await
        .unwrap()
        .expect("python3 runs (see requirements-test.txt)");
    assert!(run.status.success(), "{name} {shown} failed:\n{}", String::from_utf8_lossy(&run.stderr));
    serde_json::from_slice(&run.stdout).unwrap()
}
