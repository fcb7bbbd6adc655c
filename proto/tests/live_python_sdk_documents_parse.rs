//! The Python `aws-xray-sdk` installed on this machine (by `.ci/run`) is run against a UDP
//! socket, and everything it sends parses and round-trips. This catches SDK changes that the
//! checked-in captures would not.

use std::path::Path;
use std::process::Command;

use fluoro_proto::{parse_document, Document};
use serde_json::Value;

#[test]
fn documents_from_the_installed_python_sdk_parse_without_loss() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/xray-python-sdk/capture.py");
    let output = std::env::temp_dir().join(format!("fluoro-capture-{}.jsonl", std::process::id()));
    let run = Command::new("python3").arg(&script).arg(&output).output().expect("python3 runs (see .ci/run)");
    assert!(run.status.success(), "capture.py failed: {}", String::from_utf8_lossy(&run.stderr));
    let captured = std::fs::read_to_string(&output).expect("capture output");
    let _ = std::fs::remove_file(&output);

    let mut independent_subsegments = 0;
    let lines: Vec<&str> = captured.lines().collect();
    assert_eq!(lines.len(), 37, "the scenarios send 37 documents");
    for line in lines {
        let document = parse_document(line.as_bytes()).unwrap_or_else(|error| panic!("{error}\nin {line}"));
        if matches!(document, Document::Subsegment(_)) {
            independent_subsegments += 1;
        }
        let original: Value = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&document.to_json()).unwrap(), original);
    }
    assert_eq!(independent_subsegments, 28, "the SDK streams subsegments past its threshold");
}
