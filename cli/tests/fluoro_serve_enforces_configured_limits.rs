//! `[limits]` of the config file reach the running `fluoro serve`: a trace's spans past
//! `spans_per_trace` are refused whichever way they come (UDP, then PutTraceSegments), counted
//! on `/metrics`, and the rest kept.

use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::fluoro_daemon_relays_raw_documents::{get_text, metric};
use crate::server::FluoroServer;

#[test]
fn fluoro_serve_refuses_spans_past_the_configured_trace_size_on_every_source() {
    let data_dir = tempfile::tempdir().unwrap();
    let config = data_dir.path().join("fluoro.toml");
    std::fs::write(&config, "[limits]\nspans_per_trace = 3\n").unwrap();
    let server = FluoroServer::start_with(data_dir.path(), &[std::ffi::OsStr::new("--config"), config.as_os_str()]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let trace = format!("1-{:08x}-{:024x}", now as u64, 0x7ace_u64);
    let segment = |id: u64, subsegments: u64| {
        let children: Vec<_> = (1..=subsegments)
            .map(|s| json!({"id": format!("{:016x}", id * 10 + s), "name": "db", "start_time": now, "end_time": now + 0.1}))
            .collect();
        json!({"trace_id": trace, "id": format!("{:016x}", id * 10), "name": "pets", "start_time": now,
            "end_time": now + 0.2, "subsegments": children})
        .to_string()
    };

    // Over UDP: 2 spans kept, the next 2 would make 4.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for document in [segment(1, 1), segment(2, 1)] {
        let datagram = format!("{{\"format\":\"json\",\"version\":1}}\n{document}");
        socket.send_to(datagram.as_bytes(), server.addresses["udp"]).unwrap();
    }
    let refused = "fluoro_rejected_total{source=\"udp\",reason=\"trace_too_large\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&get_text(&server.url("/metrics")), refused) < 1 {
        assert!(Instant::now() < deadline, "the second UDP document is refused and counted");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Over the API: the third span fits, the fourth does not.
    let answer = server.post("/TraceSegments", json!({"TraceSegmentDocuments": [segment(3, 0), segment(4, 0)]}));
    let unprocessed = answer["UnprocessedTraceSegments"].as_array().unwrap();
    assert_eq!(unprocessed.len(), 1, "{answer}");
    assert_eq!(unprocessed[0]["ErrorCode"], "TraceTooLarge");
    let traces = server.post("/Traces", json!({"TraceIds": [trace]}));
    let documents = traces["Traces"][0]["Segments"].as_array().unwrap();
    assert_eq!(documents.len(), 2, "the first UDP segment and the API's first: {traces}");
    let metrics = get_text(&server.url("/metrics"));
    assert_eq!(metric(&metrics, "fluoro_rejected_total{source=\"put_trace_segments\",reason=\"trace_too_large\"}"), 1);
    assert_eq!(metric(&metrics, refused), 1);
}
