//! `trace` output follows where it goes: on a terminal (a pseudo-terminal from util-linux's
//! `script`) faults are red and tables fit the terminal's width; with `NO_COLOR`, or into a
//! pipe, the output is plain. `trace completions` prints scripts that name every command.

use std::process::{Command, Output};

use serde_json::json;

use crate::server::FluoroServer;
use crate::trace_filter_queries_a_running_server::T0;
use crate::trace_histogram_queries_a_running_server::stdout;
use crate::trace_map_prints_the_service_graph::seeded_map;

/// `trace ARGUMENTS…` on a pseudo-terminal `columns` wide, with `env` set.
fn on_terminal(server: &FluoroServer, columns: u16, arguments: &str, env: &[(&str, &str)]) -> Output {
    let trace = env!("CARGO_BIN_EXE_trace");
    let command = format!("stty cols {columns} rows 50; {trace} {arguments} --endpoint {}", server.url(""));
    Command::new("script").args(["-qec", &command, "/dev/null"]).envs(env.iter().copied()).output().unwrap()
}

fn window() -> String {
    format!("--from {T0} --to {}", T0 + 600.0)
}

#[test]
fn trace_colours_faults_on_a_terminal_unless_no_color() {
    let (_dir, server) = seeded_map();
    let coloured = stdout(&on_terminal(&server, 200, &format!("map {}", window()), &[]));
    let web = coloured.lines().find(|line| line.contains("AWS::EC2::Instance")).unwrap();
    assert!(web.starts_with("\x1b[31mweb"), "a node with faults is red: {coloured:?}");
    let plain = stdout(&on_terminal(&server, 200, &format!("map {}", window()), &[("NO_COLOR", "1")]));
    assert!(!plain.contains('\x1b') && plain.contains("web"), "{plain:?}");
    let piped = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["map", "--endpoint", &server.url(""), "--from", &T0.to_string(), "--to", &(T0 + 600.0).to_string()])
        .output()
        .unwrap();
    assert!(!stdout(&piped).contains('\x1b'));
    // The same table, colour aside, wherever it goes.
    assert_eq!(plain.replace("\r\n", "\n"), stdout(&piped));
}

#[test]
fn trace_tables_fit_the_terminal_width() {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let filter = "http.url CONTAINS \"/checkout/with/a/long/path\" AND responsetime > 2 AND NOT fault";
    server.post("/CreateGroup", json!({"GroupName": "checkout", "FilterExpression": filter}));
    let narrow = stdout(&on_terminal(&server, 60, "groups list", &[]));
    let lines: Vec<&str> = narrow.lines().collect();
    assert!(lines.iter().all(|line| line.chars().count() <= 60), "{narrow}");
    let checkout = lines.iter().find(|line| line.starts_with("checkout")).unwrap();
    assert!(checkout.contains("http.url CONTAINS") && checkout.contains('…'), "{narrow}");
    let wide = stdout(&on_terminal(&server, 200, "groups list", &[]));
    assert!(wide.contains(filter), "nothing cut when it fits: {wide}");
}

#[test]
fn trace_completions_name_every_command() {
    for (shell, marker) in [("bash", "_trace()"), ("zsh", "#compdef trace"), ("fish", "complete -c trace")] {
        let run = Command::new(env!("CARGO_BIN_EXE_trace")).args(["completions", shell]).output().unwrap();
        let script = stdout(&run);
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["map", "tail", "groups", "sampling", "alarms", "filter", "get", "endpoint", "since"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let bash = stdout(&Command::new(env!("CARGO_BIN_EXE_trace")).args(["completions", "bash"]).output().unwrap());
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), bash).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(path.path()).output().unwrap();
    assert!(syntax.status.success(), "bash -n: {}", String::from_utf8_lossy(&syntax.stderr));
    let unknown = Command::new(env!("CARGO_BIN_EXE_trace")).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}
