//! Fluoro's benchmarks and load generator. Each benchmark (one binary in `src/bin/`) measures
//! against a baseline run in the same process or script; `BENCHMARKS.md` has how to run them and
//! the numbers. This library holds what several of them share.

pub mod latency_probe;
pub mod petadoptions;
pub mod server_process;
pub mod udp_load;

/// Stands where each benchmark writes a new trace's 24 random hex digits.
pub const TRACE_PLACEHOLDER: &str = "000000000000000000000000";

/// The benchmarks' realistic document (~1.2 KB): an ECS service's segment with a DynamoDB call,
/// a remote HTTP call and local work, started at `epoch` + 0.125 s, its trace id's random part
/// being [`TRACE_PLACEHOLDER`].
pub fn checkout_segment_document(epoch: u64) -> String {
    let start = epoch as f64 + 0.125;
    format!(
        r#"{{"name":"checkout-api","id":"70de5b6f19ff9a0a","trace_id":"1-{epoch:08x}-{TRACE_PLACEHOLDER}","start_time":{start},"end_time":{end},"origin":"AWS::ECS::Container","http":{{"request":{{"method":"POST","url":"https://checkout.example.com/api/orders","client_ip":"10.0.12.34","user_agent":"okhttp/4.12.0"}},"response":{{"status":200,"content_length":1234}}}},"annotations":{{"customer_tier":"gold","order_items":3}},"aws":{{"ecs":{{"container":"checkout-7d9f"}}}},"subsegments":[{{"id":"53995c3f42cd8ad8","name":"DynamoDB","namespace":"aws","start_time":{s1},"end_time":{e1},"aws":{{"operation":"PutItem","table_name":"orders","region":"us-east-1","request_id":"UBQNSO5AEM8T4FDA4RQDEB94OVTDRVV4K4HIRGVJF66Q9ASUAAJG","retries":0}},"http":{{"response":{{"status":200,"content_length":2}}}}}},{{"id":"6b55dcc497934f1a","name":"payments.example.com","namespace":"remote","start_time":{s2},"end_time":{e2},"http":{{"request":{{"method":"POST","url":"https://payments.example.com/charge"}},"response":{{"status":201,"content_length":87}}}}}},{{"id":"1c9b3d1e0f5a7c2b","name":"render-receipt","start_time":{s3},"end_time":{e3},"metadata":{{"default":{{"template":"receipt-v2"}}}}}}]}}"#,
        end = start + 0.180,
        s1 = start + 0.010,
        e1 = start + 0.042,
        s2 = start + 0.050,
        e2 = start + 0.160,
        s3 = start + 0.162,
        e3 = start + 0.175,
    )
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux architecture Fluoro runs on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// A thread's name and CPU seconds (user + system) from its `/proc/.../stat` text; `None` when
/// the text is not a stat line. Resolution: one clock tick, 10 ms.
pub fn thread_name_and_cpu(stat: &str) -> Option<(&str, f64)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    // After the name come the state and 10 more fields, then utime and stime (fields 14, 15).
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((stat.get(open + 1..close)?, (utime + stime) as f64 / CLOCK_TICKS_PER_SECOND))
}

/// CPU seconds of each of this process's threads, added up by thread name.
pub fn cpu_by_thread_name() -> anyhow::Result<std::collections::HashMap<String, f64>> {
    let mut by_name = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task")? {
        // A thread that exits meanwhile is simply not counted.
        let Ok(stat) = std::fs::read_to_string(task?.path().join("stat")) else { continue };
        let Some((name, seconds)) = thread_name_and_cpu(&stat) else { continue };
        *by_name.entry(name.to_string()).or_insert(0.0) += seconds;
    }
    Ok(by_name)
}

/// CPU seconds the calling thread has used: immune to time spent descheduled, which on a
/// shared 2-core machine distorts wall-clock rates.
pub fn this_thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|stat| thread_name_and_cpu(&stat).map(|(_, seconds)| seconds))
        .unwrap_or(0.0)
}

/// CPU seconds of the whole process, every thread (polars' workers, a store's log and flush
/// threads); 0 if the kernel does not say.
pub fn process_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| thread_name_and_cpu(&stat).map(|(_, seconds)| seconds))
        .unwrap_or(0.0)
}

/// Runs `run` `runs` times (at least once): the median wall time in milliseconds and the last
/// answer.
pub fn median_ms<T>(runs: usize, mut run: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<(f64, T)> {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let began = std::time::Instant::now();
        last = Some(run()?);
        times.push(began.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], anyhow::Context::context(last, "no run")?))
}
