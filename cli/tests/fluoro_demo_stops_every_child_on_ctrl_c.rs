//! Ctrl-C (SIGINT to `fluoro demo` alone, as a test can send it) stops every child process;
//! a second run on the same data dir resumes it; `--fresh` refuses a directory that is not a
//! demo's.

use std::process::Command;

use crate::demo::{is_running, Demo};

#[test]
fn fluoro_demo_stops_every_child_on_ctrl_c_and_resumes_its_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    let first_children = demo.child_pids.clone();
    assert!(first_children.iter().all(|pid| is_running(*pid)));
    let (status, children) = demo.interrupt();
    assert!(status.success(), "fluoro demo exited with {status}");
    let left: Vec<u32> = children.into_iter().filter(|pid| is_running(*pid)).collect();
    assert!(left.is_empty(), "children left running after Ctrl-C: {left:?}");

    // The second run keeps the first one's database and store.
    let database = dir.path().join("state/petadoptions.sqlite");
    assert!(database.exists());
    let demo = Demo::start(dir.path());
    let (status, _) = demo.interrupt();
    assert!(status.success());
    assert!(dir.path().join("fluoro/store").exists());

    let not_a_demo = tempfile::tempdir().unwrap();
    std::fs::write(not_a_demo.path().join("precious.txt"), "keep me").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_fluoro"))
        .args(["demo", "--fresh", "--data-dir"])
        .arg(not_a_demo.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a fluoro demo's data dir"));
    assert!(not_a_demo.path().join("precious.txt").exists());
}
