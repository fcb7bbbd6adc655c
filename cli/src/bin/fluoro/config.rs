//! The server's configuration: flags for the common things, a TOML file for the rest
//! (`fluoro.example.toml` documents every key), validated on load.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use fluoro_collector::{ApiToken, HttpLimits, SigV4Keys};
use serde::Deserialize;

pub(crate) const DEFAULT_UDP_BIND: &str = "127.0.0.1:2000";
pub(crate) const DEFAULT_SAMPLING_BIND: &str = "127.0.0.1:2000";
/// Twice the longest interval between maintenance passes, so the holder renews in time.
const MIN_LEASE_SECONDS: u64 = 60;
pub(crate) const DEFAULT_HTTP_BIND: &str = "127.0.0.1:2020";
pub(crate) const DEFAULT_OTLP_GRPC_BIND: &str = "127.0.0.1:4317";
pub(crate) const DEFAULT_OTLP_HTTP_BIND: &str = "127.0.0.1:4318";
/// The store lives in this folder of the data dir.
pub(crate) const STORE_DIR: &str = "store";

/// The configuration file. Every key is optional; flags win over the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) udp_bind: Option<SocketAddr>,
    pub(crate) sampling_bind: Option<SocketAddr>,
    pub(crate) http_bind: Option<SocketAddr>,
    pub(crate) otlp_grpc_bind: Option<SocketAddr>,
    pub(crate) otlp_http_bind: Option<SocketAddr>,
    /// A file holding the HTTP API's token (`--api-token-file`).
    pub(crate) api_token_file: Option<PathBuf>,
    /// `--role`.
    pub(crate) role: Option<crate::serve::Role>,
    /// `--collectors`.
    #[serde(default)]
    pub(crate) collectors: Vec<String>,
    /// A file of SigV4 access keys (`--sigv4-keys-file`).
    pub(crate) sigv4_keys_file: Option<PathBuf>,
    #[serde(default)]
    pub(crate) udp: UdpSection,
    #[serde(default)]
    pub(crate) http: HttpSection,
    #[serde(default)]
    pub(crate) store: StoreSection,
    #[serde(default)]
    pub(crate) group_metrics: GroupMetricsSection,
    #[serde(default)]
    pub(crate) alarms: AlarmsSection,
    #[serde(default)]
    pub(crate) insights: crate::insight_loop::InsightsSection,
    #[serde(default)]
    pub(crate) limits: LimitsSection,
}

/// What one request may ask of the server; defaults are `fluoro_collector::MAX_*`
/// (docs/operations.md, "Limits").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsSection {
    pub(crate) request_body_bytes: Option<usize>,
    pub(crate) documents_per_request: Option<usize>,
    pub(crate) trace_ids_per_request: Option<usize>,
    pub(crate) document_bytes: Option<usize>,
    pub(crate) annotations_metadata_bytes: Option<usize>,
    pub(crate) query_window_seconds: Option<u64>,
    pub(crate) spans_per_trace: Option<usize>,
    pub(crate) json_depth: Option<usize>,
    pub(crate) summaries_per_page: Option<usize>,
    pub(crate) trace_graph_ids: Option<usize>,
    pub(crate) query_seconds: Option<f64>,
}

/// A query window may be set from a minute to the 30 days X-Ray keeps.
const QUERY_WINDOW_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 60..=30 * 86_400;

/// A segment document may be set from 1 KiB (a minimal document is ~150 bytes) to 1 MiB; over
/// UDP, a datagram is at most 64 KiB whatever the limit.
const DOCUMENT_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=1024 * 1024;
/// A document is an object holding objects: fewer levels refuse ordinary segments, and
/// serde_json refuses more than its own limit whatever the configuration.
const JSON_DEPTH_RANGE: std::ops::RangeInclusive<usize> = 4..=fluoro_proto::MAX_JSON_DEPTH;
/// A query may be given from a millisecond (tests) to an hour.
const QUERY_SECONDS_RANGE: std::ops::RangeInclusive<f64> = 0.001..=3600.0;
/// The smallest request body limit: one document of the largest size must fit.
const MIN_REQUEST_BODY_BYTES: usize = 128 * 1024;

impl LimitsSection {
    /// The X-Ray API's limits, validated.
    pub(crate) fn xray_api_limits(&self) -> anyhow::Result<fluoro_collector::XrayApiLimits> {
        let mut limits = fluoro_collector::XrayApiLimits::default();
        if let Some(bytes) = self.request_body_bytes {
            // Above the drain limit, a refused body could no longer be read to its end, and the
            // client would see a reset connection instead of the 413.
            let (low, high) = (MIN_REQUEST_BODY_BYTES, fluoro_collector::DRAIN_LIMIT_BYTES);
            anyhow::ensure!(
                (low..=high).contains(&bytes),
                "limits.request_body_bytes must be between {low} and {high}"
            );
            limits.request_body_bytes = bytes;
        }
        if let Some(count) = self.documents_per_request {
            anyhow::ensure!(count > 0, "limits.documents_per_request must be at least 1");
            limits.documents_per_request = count;
        }
        if let Some(count) = self.trace_ids_per_request {
            anyhow::ensure!(count > 0, "limits.trace_ids_per_request must be at least 1");
            limits.trace_ids_per_request = count;
        }
        Ok(limits)
    }

    /// What one query may ask, validated.
    pub(crate) fn query_limits(&self) -> anyhow::Result<fluoro_ui::QueryLimits> {
        let mut limits = fluoro_ui::QueryLimits::default();
        if let Some(seconds) = self.query_window_seconds {
            let (low, high) = (QUERY_WINDOW_SECONDS_RANGE.start(), QUERY_WINDOW_SECONDS_RANGE.end());
            anyhow::ensure!(
                QUERY_WINDOW_SECONDS_RANGE.contains(&seconds),
                "limits.query_window_seconds must be between {low} and {high}"
            );
            limits.window_seconds = seconds as f64;
        }
        if let Some(seconds) = self.query_seconds {
            let (low, high) = (QUERY_SECONDS_RANGE.start(), QUERY_SECONDS_RANGE.end());
            anyhow::ensure!(
                QUERY_SECONDS_RANGE.contains(&seconds),
                "limits.query_seconds must be between {low} and {high}"
            );
            limits.query_budget = Duration::from_secs_f64(seconds);
        }
        if let Some(count) = self.summaries_per_page {
            let high = fluoro_analyzer::MAX_CONFIGURABLE_PAGE_SIZE;
            anyhow::ensure!((1..=high).contains(&count), "limits.summaries_per_page must be between 1 and {high}");
            limits.summaries_per_page = count;
        }
        if let Some(count) = self.trace_graph_ids {
            anyhow::ensure!(count > 0, "limits.trace_graph_ids must be at least 1");
            limits.trace_graph_ids = count;
        }
        Ok(limits)
    }

    /// The most spans one trace may take (`fluoro_collector::DEFAULT_SPANS_PER_TRACE` by default).
    pub(crate) fn spans_per_trace(&self) -> anyhow::Result<usize> {
        let count = self.spans_per_trace.unwrap_or(fluoro_collector::DEFAULT_SPANS_PER_TRACE);
        anyhow::ensure!(count > 0, "limits.spans_per_trace must be at least 1");
        Ok(count)
    }

    /// The rules every document is checked against, on every source, validated.
    pub(crate) fn document_rules(&self) -> anyhow::Result<fluoro_proto::Rules> {
        if let Some(bytes) = self.document_bytes {
            let (low, high) = (DOCUMENT_BYTES_RANGE.start(), DOCUMENT_BYTES_RANGE.end());
            anyhow::ensure!(
                DOCUMENT_BYTES_RANGE.contains(&bytes),
                "limits.document_bytes must be between {low} and {high}"
            );
        }
        if let Some(bytes) = self.annotations_metadata_bytes {
            anyhow::ensure!(bytes > 0, "limits.annotations_metadata_bytes must be at least 1");
        }
        if let Some(depth) = self.json_depth {
            let (low, high) = (JSON_DEPTH_RANGE.start(), JSON_DEPTH_RANGE.end());
            anyhow::ensure!(JSON_DEPTH_RANGE.contains(&depth), "limits.json_depth must be between {low} and {high}");
        }
        Ok(fluoro_proto::Rules {
            max_document_bytes: self.document_bytes,
            max_annotations_metadata_bytes: self.annotations_metadata_bytes,
            // serde_json's own limit needs no pass of ours.
            max_json_depth: self.json_depth.filter(|depth| *depth < fluoro_proto::MAX_JSON_DEPTH),
            ..fluoro_proto::Rules::default()
        })
    }
}

/// The HTTP API's token: from `--api-token-file`, else $FLUORO_API_TOKEN, else the file's
/// `api_token_file`; none when none is given. Never a flag holding the token itself: `ps` shows
/// command lines to every user.
pub(crate) fn api_token(flag: Option<&Path>, from_file: Option<&Path>) -> anyhow::Result<Option<ApiToken>> {
    let text = match (flag, std::env::var("FLUORO_API_TOKEN").ok(), from_file) {
        (Some(path), _, _) | (None, None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the API token file {}", path.display()))?,
        (None, Some(token), _) => token,
        (None, None, None) => return Ok(None),
    };
    Ok(Some(ApiToken::new(&text)?))
}

/// The SigV4 keys: from `--sigv4-keys-file`, else the file's `sigv4_keys_file`; none when
/// neither is given. Secrets only ever come from a file, never a command line.
pub(crate) fn sigv4_keys(flag: Option<&Path>, from_file: Option<&Path>) -> anyhow::Result<Option<SigV4Keys>> {
    let Some(path) = flag.or(from_file) else { return Ok(None) };
    let metadata =
        std::fs::metadata(path).with_context(|| format!("cannot read the SigV4 keys file {}", path.display()))?;
    if metadata.len() > MAX_SIGV4_KEYS_FILE_BYTES {
        anyhow::bail!("the SigV4 keys file {} is over {MAX_SIGV4_KEYS_FILE_BYTES} bytes", path.display());
    }
    if std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "the sigv4 keys file can be read by other users; chmod 600 it");
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the SigV4 keys file {}", path.display()))?;
    Ok(Some(SigV4Keys::parse(&text)?))
}

/// 10,000 keys of at most 257 characters and a newline fit.
const MAX_SIGV4_KEYS_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// When group metrics are computed; defaults are `fluoro_analyzer::DEFAULT_*`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupMetricsSection {
    pub(crate) grace_seconds: Option<u64>,
    pub(crate) catch_up_minutes: Option<u64>,
}

/// How often alarms are evaluated.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlarmsSection {
    pub(crate) evaluation_interval_seconds: Option<u64>,
}

/// Alarms are evaluated this often by default: CloudWatch's own cadence.
pub(crate) const DEFAULT_ALARM_INTERVAL_SECONDS: u64 = 60;
/// Late segments wait at most an hour: a longer grace would leave the metrics meaningless.
const MAX_GRACE_SECONDS: u64 = 3600;
/// A day of minutes at most after a restart.
const MAX_CATCH_UP_MINUTES: u64 = 1440;

impl GroupMetricsSection {
    /// The recorder's configuration; `grace_flag` (a hidden test flag) wins over the file.
    pub(crate) fn recorder_config(
        &self,
        grace_flag: Option<u64>,
    ) -> anyhow::Result<fluoro_analyzer::GroupMetricsConfig> {
        let mut config = fluoro_analyzer::GroupMetricsConfig::default();
        if let Some(seconds) = grace_flag.or(self.grace_seconds) {
            anyhow::ensure!(
                seconds <= MAX_GRACE_SECONDS,
                "group_metrics.grace_seconds must be at most {MAX_GRACE_SECONDS}"
            );
            config.grace_seconds = seconds as i64;
        }
        if let Some(minutes) = self.catch_up_minutes {
            anyhow::ensure!(
                (1..=MAX_CATCH_UP_MINUTES).contains(&minutes),
                "group_metrics.catch_up_minutes must be between 1 and {MAX_CATCH_UP_MINUTES}"
            );
            config.catch_up_minutes = minutes as i64;
        }
        Ok(config)
    }
}

impl AlarmsSection {
    /// The evaluation interval; `flag` (a hidden test flag) wins over the file.
    pub(crate) fn evaluation_interval(&self, flag: Option<u64>) -> anyhow::Result<Duration> {
        let seconds = flag.or(self.evaluation_interval_seconds).unwrap_or(DEFAULT_ALARM_INTERVAL_SECONDS);
        anyhow::ensure!((1..=3600).contains(&seconds), "alarms.evaluation_interval_seconds must be between 1 and 3600");
        Ok(Duration::from_secs(seconds))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UdpSection {
    pub(crate) receivers: Option<usize>,
    pub(crate) workers: Option<usize>,
    pub(crate) queue_datagrams: Option<usize>,
}

/// Slow clients' bounds on every HTTP listener; defaults are `HttpLimits::default()`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSection {
    pub(crate) header_read_timeout_seconds: Option<f64>,
    pub(crate) body_read_timeout_seconds: Option<f64>,
    pub(crate) max_connections: Option<usize>,
}

impl HttpSection {
    pub(crate) fn limits(&self) -> anyhow::Result<HttpLimits> {
        let mut limits = HttpLimits::default();
        let seconds = |value: Option<f64>, key: &str, default: Duration| match value {
            None => Ok(default),
            Some(seconds) if (0.1..=3600.0).contains(&seconds) => Ok(Duration::from_secs_f64(seconds)),
            Some(_) => anyhow::bail!("http.{key} must be between 0.1 and 3600"),
        };
        limits.header_read_timeout =
            seconds(self.header_read_timeout_seconds, "header_read_timeout_seconds", limits.header_read_timeout)?;
        limits.body_read_timeout =
            seconds(self.body_read_timeout_seconds, "body_read_timeout_seconds", limits.body_read_timeout)?;
        if let Some(connections) = self.max_connections {
            anyhow::ensure!(
                (1..=1_000_000).contains(&connections),
                "http.max_connections must be between 1 and 1000000"
            );
            limits.max_connections = connections;
        }
        Ok(limits)
    }
}

/// When recent data becomes a Parquet block and how often UDP data is synced; defaults are
/// `fluoro_store::DEFAULT_*`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreSection {
    pub(crate) flush_rows: Option<usize>,
    pub(crate) flush_age_seconds: Option<u64>,
    pub(crate) recent_max_bytes: Option<u64>,
    pub(crate) sync_interval_ms: Option<u64>,
    pub(crate) retention_days: Option<u64>,
    pub(crate) retention_max_bytes: Option<u64>,
    pub(crate) compaction_min_rows: Option<usize>,
    /// Also publish span blocks to this bucket: `s3://bucket/prefix` (or `file:///dir`).
    pub(crate) blocks: Option<String>,
    /// An S3-compatible endpoint other than AWS's (MinIO, Ceph, a local server).
    pub(crate) blocks_endpoint: Option<String>,
    pub(crate) blocks_region: Option<String>,
    /// Plain HTTP to `blocks_endpoint`, for a local server.
    pub(crate) blocks_allow_http: Option<bool>,
    /// Read the published blocks missing locally from the bucket on demand, keeping at most
    /// this many bytes of them in memory, instead of downloading them all on start.
    pub(crate) blocks_cache_bytes: Option<u64>,
    /// A collector's hold on the bucket's maintenance lease lasts this long unless renewed.
    pub(crate) lease_seconds: Option<u64>,
}

impl StoreSection {
    /// The blocks bucket, if `blocks` names one. Credentials come from the usual AWS
    /// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) or the
    /// instance's role, never from a flag that `ps` would show.
    fn bucket(&self) -> Option<fluoro_store::BucketConfig> {
        let url = self.blocks.as_ref()?;
        Some(fluoro_store::BucketConfig {
            endpoint: self.blocks_endpoint.clone(),
            region: self.blocks_region.clone(),
            allow_http: self.blocks_allow_http.unwrap_or(false),
            ..fluoro_store::BucketConfig::new(url.clone())
        })
    }

    /// The store's configuration for `data_dir`, validated; `recent_max_bytes_flag` wins over
    /// the file.
    pub(crate) fn store_config(
        &self,
        data_dir: &Path,
        recent_max_bytes_flag: Option<u64>,
    ) -> anyhow::Result<fluoro_store::StoreConfig> {
        let mut config = fluoro_store::StoreConfig::new(data_dir.join(STORE_DIR));
        if let Some(rows) = self.flush_rows {
            anyhow::ensure!(rows > 0, "store.flush_rows must be at least 1");
            config.flush_rows = rows;
        }
        if let Some(seconds) = self.flush_age_seconds {
            anyhow::ensure!(seconds > 0, "store.flush_age_seconds must be at least 1");
            config.flush_age = Duration::from_secs(seconds);
        }
        if let Some(bytes) = recent_max_bytes_flag.or(self.recent_max_bytes) {
            let minimum = fluoro_store::MIN_RECENT_MAX_BYTES;
            anyhow::ensure!(bytes >= minimum, "store.recent_max_bytes must be at least {minimum}");
            config.recent_max_bytes = bytes;
        }
        if let Some(millis) = self.sync_interval_ms {
            // The durability contract promises UDP data on disk within a second.
            anyhow::ensure!((1..=1000).contains(&millis), "store.sync_interval_ms must be between 1 and 1000");
            config.sync_interval = Duration::from_millis(millis);
        }
        if let Some(days) = self.retention_days {
            anyhow::ensure!(days > 0, "store.retention_days must be at least 1");
            config.retention_max_age = Duration::from_secs(days.saturating_mul(24 * 60 * 60));
        }
        if let Some(bytes) = self.retention_max_bytes {
            config.retention_max_bytes = bytes;
        }
        if let Some(rows) = self.compaction_min_rows {
            config.compaction_min_rows = rows;
        }
        config.bucket = self.bucket();
        if self.blocks_cache_bytes.is_some() {
            anyhow::ensure!(config.bucket.is_some(), "store.blocks_cache_bytes needs store.blocks (a bucket)");
        }
        config.blocks_cache_bytes = self.blocks_cache_bytes;
        if let Some(seconds) = self.lease_seconds {
            // Renewed on every maintenance pass, which runs at least every 30 s.
            anyhow::ensure!(seconds >= MIN_LEASE_SECONDS, "store.lease_seconds must be at least {MIN_LEASE_SECONDS}");
            config.lease_duration = Duration::from_secs(seconds);
        }
        Ok(config)
    }
}

impl ConfigFile {
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid configuration in {}", path.display()))
    }
}

/// `$FLUORO_DATA_DIR`, else `$XDG_DATA_HOME/fluoro`, else `~/.local/share/fluoro`, else
/// `./fluoro-data`.
pub(crate) fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLUORO_DATA_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("fluoro");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/fluoro"),
        None => PathBuf::from("fluoro-data"),
    }
}

pub(crate) fn parse_addr(text: &str) -> SocketAddr {
    // Only called with the constants above.
    text.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigv4_keys_come_from_the_flag_else_the_config_file_key() {
        let dir = tempfile::tempdir().unwrap();
        let (flag, from_file) = (dir.path().join("flag-keys"), dir.path().join("file-keys"));
        std::fs::write(&flag, "AKIDFROMTHEFLAG0001 secret-secret-secret\n").unwrap();
        std::fs::write(
            &from_file,
            "AKIDFROMTHEFILE0001 secret-secret-secret\nAKIDFROMTHEFILE0002 secret-secret-secret\n",
        )
        .unwrap();
        let config: ConfigFile =
            toml::from_str(&format!("sigv4_keys_file = {:?}", from_file.display().to_string())).unwrap();
        let configured = config.sigv4_keys_file.as_deref();
        assert_eq!(sigv4_keys(Some(&flag), configured).unwrap().unwrap().len(), 1, "the flag wins");
        assert_eq!(sigv4_keys(None, configured).unwrap().unwrap().len(), 2);
        assert!(sigv4_keys(None, None).unwrap().is_none(), "no keys: no signature asked");
        std::fs::write(&flag, "AKIDFROMTHEFLAG0001 short\n").unwrap();
        assert!(sigv4_keys(Some(&flag), None).unwrap_err().to_string().contains("line 1"));
        assert!(sigv4_keys(Some(&dir.path().join("missing")), None).is_err());
    }

    #[test]
    fn the_example_file_is_valid_and_unknown_keys_are_refused() {
        let example = include_str!("../../../../fluoro.example.toml");
        let config: ConfigFile = toml::from_str(example).unwrap();
        assert_eq!(config.http_bind, Some(parse_addr(DEFAULT_HTTP_BIND)));
        let store = config.store.store_config(Path::new("/data"), None).unwrap();
        assert_eq!(store.flush_rows, fluoro_store::DEFAULT_FLUSH_ROWS);
        assert_eq!(store.data_dir, Path::new("/data/store"));
        assert_eq!(store.bucket, None, "the local directory alone by default");
        assert_eq!(config.http.limits().unwrap(), HttpLimits::default(), "the example shows the defaults");
        let too_long: ConfigFile = toml::from_str("[http]\nheader_read_timeout_seconds = 7200").unwrap();
        assert!(too_long.http.limits().is_err());
        let bucket: ConfigFile = toml::from_str(
            "[store]\nblocks = \"s3://b/p\"\nblocks_endpoint = \"http://127.0.0.1:9000\"\nblocks_allow_http = true",
        )
        .unwrap();
        let bucket = bucket.store.store_config(Path::new("/data"), None).unwrap().bucket.unwrap();
        assert_eq!((bucket.url.as_str(), bucket.allow_http), ("s3://b/p", true));
        assert_eq!(bucket.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        let cached: ConfigFile = toml::from_str("[store]\nblocks = \"s3://b/p\"\nblocks_cache_bytes = 1024").unwrap();
        assert_eq!(cached.store.store_config(Path::new("/data"), None).unwrap().blocks_cache_bytes, Some(1024));
        assert_eq!(store.lease_duration, fluoro_store::DEFAULT_LEASE_DURATION, "the example shows the default");
        let lease: ConfigFile = toml::from_str("[store]\nlease_seconds = 300").unwrap();
        assert_eq!(lease.store.store_config(Path::new("/data"), None).unwrap().lease_duration.as_secs(), 300);
        let short: ConfigFile = toml::from_str("[store]\nlease_seconds = 20").unwrap();
        assert!(short.store.store_config(Path::new("/data"), None).is_err(), "shorter than two maintenance passes");
        let no_bucket: ConfigFile = toml::from_str("[store]\nblocks_cache_bytes = 1024").unwrap();
        assert!(no_bucket.store.store_config(Path::new("/data"), None).is_err(), "a cache needs a bucket");
        let error = toml::from_str::<ConfigFile>("htp_bind = \"127.0.0.1:1\"").unwrap_err();
        assert!(error.to_string().contains("unknown field `htp_bind`"), "{error}");
        let slow_sync: ConfigFile = toml::from_str("[store]\nsync_interval_ms = 5000").unwrap();
        assert!(slow_sync.store.store_config(Path::new("/data"), None).is_err(), "the durability contract holds");
        assert_eq!(store.recent_max_bytes, fluoro_store::DEFAULT_RECENT_MAX_BYTES);
        let bounded: ConfigFile = toml::from_str("[store]\nrecent_max_bytes = 268435456").unwrap();
        assert_eq!(bounded.store.store_config(Path::new("/data"), None).unwrap().recent_max_bytes, 268_435_456);
        let flag = bounded.store.store_config(Path::new("/data"), Some(134_217_728)).unwrap();
        assert_eq!(flag.recent_max_bytes, 134_217_728, "the flag wins over the file");
        assert!(bounded.store.store_config(Path::new("/data"), Some(1000)).is_err(), "too small to flush into");
        let recorder = config.group_metrics.recorder_config(None).unwrap();
        assert_eq!(recorder, fluoro_analyzer::GroupMetricsConfig::default());
        assert_eq!(
            config.alarms.evaluation_interval(None).unwrap(),
            Duration::from_secs(DEFAULT_ALARM_INTERVAL_SECONDS)
        );
        assert_eq!(config.alarms.evaluation_interval(Some(1)).unwrap(), Duration::from_secs(1));
        let zero: ConfigFile = toml::from_str("[alarms]\nevaluation_interval_seconds = 0").unwrap();
        assert!(zero.alarms.evaluation_interval(None).is_err());
        let loop_config = config.insights.loop_config().unwrap();
        assert_eq!(loop_config.tick, crate::insight_loop::DEFAULT_TICK);
        let no_grace: ConfigFile = toml::from_str("[insights]\ngrace_seconds = 10").unwrap();
        assert!(no_grace.insights.loop_config().is_err(), "the grace must cover a trace's tail");
    }

    #[test]
    fn the_limits_section_sets_each_limit_and_refuses_nonsense() {
        let example: ConfigFile = toml::from_str(include_str!("../../../../fluoro.example.toml")).unwrap();
        assert_eq!(example.limits.xray_api_limits().unwrap(), fluoro_collector::XrayApiLimits::default());
        let set: ConfigFile = toml::from_str(
            "[limits]\nrequest_body_bytes = 1048576\ndocuments_per_request = 50\ntrace_ids_per_request = 5",
        )
        .unwrap();
        let limits = set.limits.xray_api_limits().unwrap();
        assert_eq!(
            limits,
            fluoro_collector::XrayApiLimits {
                request_body_bytes: 1_048_576,
                documents_per_request: 50,
                trace_ids_per_request: 5
            }
        );
        let rules = example.limits.document_rules().unwrap();
        let default_document = Some(fluoro_proto::MAX_DOCUMENT_BYTES);
        assert_eq!((rules.max_document_bytes, rules.max_annotations_metadata_bytes), (default_document, None));
        let documents: ConfigFile =
            toml::from_str("[limits]\ndocument_bytes = 131072\nannotations_metadata_bytes = 4096").unwrap();
        let rules = documents.limits.document_rules().unwrap();
        assert_eq!((rules.max_document_bytes, rules.max_annotations_metadata_bytes), (Some(131_072), Some(4096)));
        assert_eq!(example.limits.query_limits().unwrap(), fluoro_ui::QueryLimits::default());
        let week: ConfigFile = toml::from_str("[limits]\nquery_window_seconds = 604800").unwrap();
        assert_eq!(week.limits.query_limits().unwrap().window_seconds, 604_800.0);
        let tight: ConfigFile = toml::from_str(
            "[limits]\nquery_seconds = 0.5\nsummaries_per_page = 20\ntrace_graph_ids = 10\nspans_per_trace = 50\njson_depth = 16",
        )
        .unwrap();
        let queries = tight.limits.query_limits().unwrap();
        assert_eq!(
            (queries.query_budget, queries.summaries_per_page, queries.trace_graph_ids),
            (Duration::from_millis(500), 20, 10)
        );
        assert_eq!(tight.limits.spans_per_trace().unwrap(), 50);
        assert_eq!(example.limits.spans_per_trace().unwrap(), fluoro_collector::DEFAULT_SPANS_PER_TRACE);
        assert_eq!(tight.limits.document_rules().unwrap().max_json_depth, Some(16));
        for (text, error) in [
            ("query_seconds = 0", "limits.query_seconds must be between 0.001 and 3600"),
            ("summaries_per_page = 1001", "limits.summaries_per_page must be between 1 and 1000"),
            ("trace_graph_ids = 0", "limits.trace_graph_ids must be at least 1"),
        ] {
            let config: ConfigFile = toml::from_str(&format!("[limits]\n{text}")).unwrap();
            assert_eq!(config.limits.query_limits().unwrap_err().to_string(), error);
        }
        let none: ConfigFile = toml::from_str("[limits]\nspans_per_trace = 0").unwrap();
        assert_eq!(none.limits.spans_per_trace().unwrap_err().to_string(), "limits.spans_per_trace must be at least 1");
        let second: ConfigFile = toml::from_str("[limits]\nquery_window_seconds = 1").unwrap();
        let error = second.limits.query_limits().unwrap_err().to_string();
        assert_eq!(error, "limits.query_window_seconds must be between 60 and 2592000");
        for (text, error) in [
            ("document_bytes = 100", "limits.document_bytes must be between 1024 and 1048576"),
            ("annotations_metadata_bytes = 0", "limits.annotations_metadata_bytes must be at least 1"),
            ("json_depth = 3", "limits.json_depth must be between 4 and 127"),
            ("json_depth = 128", "limits.json_depth must be between 4 and 127"),
        ] {
            let config: ConfigFile = toml::from_str(&format!("[limits]\n{text}")).unwrap();
            assert_eq!(config.limits.document_rules().unwrap_err().to_string(), error);
        }
        for (text, error) in [
            ("request_body_bytes = 1000", "limits.request_body_bytes must be between 131072 and 134217728"),
            ("request_body_bytes = 1000000000", "limits.request_body_bytes must be between 131072 and 134217728"),
            ("documents_per_request = 0", "limits.documents_per_request must be at least 1"),
            ("trace_ids_per_request = 0", "limits.trace_ids_per_request must be at least 1"),
        ] {
            let config: ConfigFile = toml::from_str(&format!("[limits]\n{text}")).unwrap();
            assert_eq!(config.limits.xray_api_limits().unwrap_err().to_string(), error);
        }
    }
}
