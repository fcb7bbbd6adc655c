//! `trace tail [EXPR]`: new traces matching a filter expression, one line each as they arrive,
//! until Ctrl-C. Polls `POST /TraceSummaries` over a window that moves with the clock and
//! remembers which trace ids it printed.
//!
//! - A trace is reported once, when its first summary appears; its segments may arrive over
//!   [`LATE_ARRIVAL_SECONDS`] after it started and it is still seen.
//! - Memory is bounded: ids older than the window are forgotten, and at most [`MAX_REMEMBERED`]
//!   are kept (the oldest dropped first).

use std::collections::HashMap;
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use crate::filter::{row, summaries};
use crate::query::{now_seconds, parse_duration, QueryArgs, ScopedExpression, EXIT_USAGE};
use crate::table::Terminal;

/// How long after its start a trace may first reach the server and still be shown.
const LATE_ARRIVAL_SECONDS: f64 = 60.0;
const MAX_REMEMBERED: usize = 100_000;
/// Summaries one poll reads at most; more than this in [`LATE_ARRIVAL_SECONDS`] is a flood
/// no terminal keeps up with anyway.
const MAX_PER_POLL: usize = 10_000;
/// Column widths of a line: start, id, response, status, method.
const WIDTHS: [usize; 5] = [19, 35, 8, 12, 6];
/// A URL is never cut below this many characters.
const MIN_URL_WIDTH: usize = 12;

/// Follow new traces matching a filter expression, one line each, until Ctrl-C.
///
/// Each line: start (UTC), id, response time, status, method, URL, root cause service — the
/// columns of `trace filter`. Traces already on the server when tail starts are not shown,
/// unless --since asks for the recent past too.
///
/// Examples:
///   trace tail                                  every new trace
///   trace tail fault                            new faulting traces
///   trace tail 'responsetime > 2' --group web   slow traces of a group
///   trace tail --since 5m                       the last five minutes first, then new ones
///   trace tail error --json | jq .Id            one JSON TraceSummary per line
///   trace tail fault --limit 1                  wait for the next fault, then exit
///
/// JSON shape: one X-Ray TraceSummary per line (as `trace filter --json`'s elements).
///
/// Exit status: 0 on Ctrl-C (or after --limit traces), 2 usage error or a rejected expression
/// (shown with a caret under the column), 3 server error or no server.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct TailArgs {
    /// The filter expression; quote it for the shell. Absent or empty: every trace.
    expression: Option<String>,
    /// Time between two polls of the server.
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    interval: String,
    #[command(flatten)]
    query: QueryArgs,
}

/// Trace ids printed, with their start times, to forget them once out of the window.
#[derive(Default)]
struct Remembered {
    started: HashMap<String, f64>,
}

impl Remembered {
    /// True the first time `id` is seen.
    fn first_time(&mut self, id: &str, start: f64) -> bool {
        self.started.insert(id.to_owned(), start).is_none()
    }

    fn forget_before(&mut self, oldest: f64) {
        self.started.retain(|_, &mut start| start >= oldest);
        if self.started.len() > MAX_REMEMBERED {
            let mut starts: Vec<f64> = self.started.values().copied().collect();
            starts.sort_by(f64::total_cmp);
            let cut = starts[self.started.len() - MAX_REMEMBERED];
            self.started.retain(|_, &mut start| start >= cut);
        }
    }
}

pub(crate) async fn run(args: TailArgs) -> anyhow::Result<()> {
    if args.query.from.is_some() || args.query.to.is_some() {
        eprintln!("error: `trace tail` follows the present; use --since for the recent past, not --from/--to");
        std::process::exit(EXIT_USAGE);
    }
    let interval = parse_duration(&args.interval)?.max(0.1);
    let backlog = args.query.since.as_deref().map(parse_duration).transpose()?;
    tokio::select! {
        result = follow(&args, interval, backlog) => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn follow(args: &TailArgs, interval: f64, backlog: Option<f64>) -> anyhow::Result<()> {
    let typed = args.expression.as_deref().unwrap_or_default();
    let expression = ScopedExpression::new(typed, args.query.group.as_deref());
    let limit = args.query.limit_or(usize::MAX);
    let terminal = Terminal::stdout();
    let started = now_seconds();
    let mut remembered = Remembered::default();
    let mut printed = 0;
    let mut first = true;
    loop {
        let now = now_seconds();
        let oldest = match backlog {
            Some(backlog) if first => started - backlog,
            _ => now - LATE_ARRIVAL_SECONDS,
        };
        let (mut found, _, _) = summaries(&args.query, &expression, (oldest, now), false, MAX_PER_POLL).await;
        found.sort_by(|a, b| start_of(a).total_cmp(&start_of(b)));
        for summary in &found {
            let Some(id) = summary["Id"].as_str() else { continue };
            // The first poll only learns what is already there, unless --since asked for it.
            let new = remembered.first_time(id, start_of(summary));
            if new && (!first || backlog.is_some()) {
                print_line(summary, args.query.json, &terminal)?;
                printed += 1;
                if printed >= limit {
                    return Ok(());
                }
            }
        }
        if first {
            eprintln!("following traces matching {:?} at {} (Ctrl-C to stop)", typed, args.query.endpoint.endpoint);
            first = false;
        }
        remembered.forget_before(now - LATE_ARRIVAL_SECONDS * 2.0);
        tokio::time::sleep(Duration::from_secs_f64(interval)).await;
    }
}

fn start_of(summary: &Value) -> f64 {
    summary["StartTime"].as_f64().unwrap_or_default()
}

/// `trace filter`'s cells on one line: the fixed columns padded, then URL and root cause.
fn print_line(summary: &Value, json: bool, terminal: &Terminal) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(summary)?);
        return Ok(());
    }
    let row = row(summary);
    let [id, start, response, status, method, url, root_cause] = <[String; 7]>::try_from(row.cells)
        .map_err(|cells| anyhow::anyhow!("a summary row of {} cells", cells.len()))?;
    let [start_width, id_width, response_width, status_width, method_width] = WIDTHS;
    let url = fit_url(&url, &root_cause, terminal.width);
    let status = terminal.paint(row.colour, &format!("{status:<status_width$}"));
    println!(
        "{start:<start_width$}  {id:<id_width$}  {response:>response_width$}  {status}  {method:<method_width$}  {url}  {root_cause}"
    );
    Ok(())
}

/// The URL cut so that the line fits the terminal (never below [`MIN_URL_WIDTH`]).
fn fit_url(url: &str, root_cause: &str, width: Option<usize>) -> String {
    let Some(width) = width else { return url.to_owned() };
    let fixed: usize = WIDTHS.iter().map(|width| width + 2).sum::<usize>() + 2 + root_cause.chars().count();
    crate::table::cut(url, width.saturating_sub(fixed).max(MIN_URL_WIDTH))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn remembered_ids_are_forgotten_once_out_of_the_window() {
        let mut remembered = Remembered::default();
        assert!(remembered.first_time("a", 10.0));
        assert!(!remembered.first_time("a", 10.0));
        assert!(remembered.first_time("b", 20.0));
        remembered.forget_before(15.0);
        let left: HashSet<&String> = remembered.started.keys().collect();
        assert_eq!(left, HashSet::from([&"b".to_owned()]));
    }

    #[test]
    fn urls_are_cut_to_fit_the_terminal() {
        let url = "https://shop.example.com/cart/123456789";
        assert_eq!(fit_url(url, "checkout", None), url);
        // 90 fixed columns, 2 before the root cause and its 8: 20 left for the URL.
        assert_eq!(fit_url(url, "checkout", Some(120)), "https://shop.exampl…");
        assert_eq!(fit_url(url, "checkout", Some(40)).chars().count(), MIN_URL_WIDTH);
    }
}
