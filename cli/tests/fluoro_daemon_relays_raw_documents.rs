//! `fluoro daemon` as a relay in front of a real `fluoro serve`: it does not parse documents, so
//! garbage and invalid JSON travel to the central server, which refuses them; the sidecar then
//! counts each refusal under the reason the central server gave, while the valid documents sent
//! at the same time are stored centrally. What the sidecar can tell without parsing (a bad
//! header, bytes that are not UTF-8) it rejects itself.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::server::FluoroServer;

const HEADER: &[u8] = br#"{"format":"json","version":1}"#;

/// `fluoro daemon --forward URL` on free ports; killed on drop.
pub(crate) struct FluoroDaemon {
    child: Child,
    pub(crate) udp: SocketAddr,
    pub(crate) sampling: SocketAddr,
    pub(crate) http: SocketAddr,
}

impl FluoroDaemon {
    fn start(central: &str) -> FluoroDaemon {
        FluoroDaemon::start_to(&[central])
    }

    /// Forwarding to each of `collectors` (one `--forward` each), unsigned.
    pub(crate) fn start_to(collectors: &[&str]) -> FluoroDaemon {
        FluoroDaemon::launch(collectors, &[], &[])
    }

    /// With only `env` of the AWS key variables set (the daemon signs with them).
    pub(crate) fn start_with_env(collectors: &[&str], env: &[(&str, &str)]) -> FluoroDaemon {
        FluoroDaemon::launch(collectors, &[], env)
    }

    /// Forwarding to each of `collectors`, with `extra_args` on its command line.
    pub(crate) fn start_with(collectors: &[&str], extra_args: &[&str]) -> FluoroDaemon {
        FluoroDaemon::launch(collectors, extra_args, &[])
    }

    fn launch(collectors: &[&str], extra_args: &[&str], env: &[(&str, &str)]) -> FluoroDaemon {
        let forward = collectors.iter().flat_map(|url| ["--forward", url]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_fluoro"))
            .arg("daemon")
            .args(forward)
            .args(["--udp-bind", "127.0.0.1:0", "--sampling-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0"])
            .args(extra_args)
            .env("FLUORO_LOG", "warn")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("fluoro daemon starts");
        let stdout = child.stdout.take().unwrap();
        let (mut udp, mut sampling, mut http) = (None, None, None);
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line == "fluoro daemon: ready" {
                break;
            }
            // "fluoro daemon: listening udp 127.0.0.1:41234 (…)"
            if let Some(rest) = line.strip_prefix("fluoro daemon: listening ") {
                let mut words = rest.split_whitespace();
                let (name, address) = (words.next().unwrap(), words.next().unwrap().parse().unwrap());
                match name {
                    "udp" => udp = Some(address),
                    "sampling" => sampling = Some(address),
                    "http" => http = Some(address),
                    _ => {}
                }
            }
        }
        FluoroDaemon {
            child,
            udp: udp.expect("udp address printed"),
            sampling: sampling.expect("sampling address printed"),
            http: http.expect("http address printed"),
        }
    }
}

impl Drop for FluoroDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn get_text(url: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

/// The value of one Prometheus sample, e.g. `fluoro_rejected_total{source="forward",reason="invalid"}`.
pub(crate) fn metric(text: &str, sample: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{sample} missing from /metrics:\n{text}"))
}

pub(crate) fn segment(serial: u32) -> (String, Vec<u8>) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let trace_id = format!("1-{now:08x}-{serial:024x}");
    let document = format!(
        r#"{{"name":"cart","id":"{serial:016x}","trace_id":"{trace_id}","start_time":{now}.1,"end_time":{now}.2}}"#
    );
    (trace_id, [HEADER, b"\n", document.as_bytes()].concat())
}

#[test]
fn garbage_is_counted_by_reason_on_the_sidecar_while_valid_documents_reach_the_central_server() {
    let data_dir = tempfile::tempdir().unwrap();
    let central = FluoroServer::start(data_dir.path());
    let daemon = FluoroDaemon::start(&central.url(""));

    let valid: Vec<(String, Vec<u8>)> = (1..=3).map(|serial| segment(0xd0_0000 + serial)).collect();
    let not_json = [HEADER, b"\nthis is not json"].concat();
    let invalid_segment = [HEADER, b"\n", br#"{"name":"cart","id":"not-an-id"}"#].concat();
    let not_utf8 = [HEADER, b"\n\xff\xfe{}"].concat();
    let bad_header = b"{\"format\":\"xml\"}\n{}".to_vec();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in [&valid[0].1, &not_json, &valid[1].1, &invalid_segment, &not_utf8, &bad_header, &valid[2].1] {
        socket.send_to(datagram, daemon.udp).unwrap();
    }

    let sidecar_metrics = format!("http://{}/metrics", daemon.http);
    let deadline = Instant::now() + Duration::from_secs(15);
    let text = loop {
        let text = get_text(&sidecar_metrics);
        let answered = metric(&text, r#"fluoro_accepted_total{source="forward"}"#)
            + metric(&text, r#"fluoro_rejected_total{source="forward",reason="bad_json"}"#)
            + metric(&text, r#"fluoro_rejected_total{source="forward",reason="invalid"}"#);
        if answered == 5 {
            break text;
        }
        assert!(Instant::now() < deadline, "the central server did not answer for 5 documents:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Refused by the central server, counted on the sidecar by the ErrorCode it returned.
    assert_eq!(metric(&text, r#"fluoro_rejected_total{source="forward",reason="bad_json"}"#), 1);
    assert_eq!(metric(&text, r#"fluoro_rejected_total{source="forward",reason="invalid"}"#), 1);
    assert_eq!(metric(&text, r#"fluoro_accepted_total{source="forward"}"#), 3);
    // Refused by the sidecar itself, never forwarded.
    assert_eq!(metric(&text, r#"fluoro_rejected_total{source="udp",reason="bad_json"}"#), 1);
    assert_eq!(metric(&text, r#"fluoro_rejected_total{source="udp",reason="bad_header"}"#), 1);
    assert_eq!(metric(&text, r#"fluoro_received_total{source="udp"}"#), 7);
    assert_eq!(metric(&text, r#"fluoro_received_total{source="forward"}"#), 5);

    let trace_ids: Vec<&str> = valid.iter().map(|(trace_id, _)| trace_id.as_str()).collect();
    let answer = central.post("/Traces", json!({ "TraceIds": trace_ids }));
    assert_eq!(
        answer["Traces"].as_array().unwrap().len(),
        3,
        "every valid document reached the central server: {answer}"
    );
    let central_text = get_text(&central.url("/metrics"));
    assert_eq!(metric(&central_text, r#"fluoro_rejected_total{source="put_trace_segments",reason="bad_json"}"#), 1);
    assert_eq!(metric(&central_text, r#"fluoro_rejected_total{source="put_trace_segments",reason="invalid"}"#), 1);
}
