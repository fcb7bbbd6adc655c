//! `trace alarms list|create|delete|history`: the alarm operations (`POST /DescribeAlarms`,
//! `/PutMetricAlarm`, `/DeleteAlarms`, `/DescribeAlarmHistory`, CloudWatch's shapes in JSON),
//! as tables or the server's JSON.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::filter::utc;
use crate::query::{key_values, ApiArgs, EXIT_NONE_MATCHED};
use crate::table::{Align, Row, Table, Terminal};

const ALARM_TABLE: Table<'static> = Table {
    header: &["NAME", "STATE", "METRIC", "CONDITION", "SINCE (UTC)"],
    align: &[Align::Left, Align::Left, Align::Left, Align::Left, Align::Left],
    flexible: Some(2),
    coloured: Some(1),
};

const HISTORY_TABLE: Table<'static> = Table {
    header: &["TIME (UTC)", "ALARM", "FROM", "TO", "REASON"],
    align: &[Align::Left, Align::Left, Align::Left, Align::Left, Align::Left],
    flexible: Some(4),
    coloured: Some(3),
};

/// Manage metric alarms: list, create, delete, and their history of states.
///
/// An alarm compares a metric's statistic over periods with a threshold: M of N periods
/// breaching → ALARM; its webhooks are notified on every change of state.
///
/// Examples:
///   trace alarms create busy-checkout --metric ApproximateTraceCount --dimension GroupName=checkout \
///       --statistic Sum --comparison '>' --threshold 100 --evaluation-periods 3 --datapoints-to-alarm 2 \
///       --webhook http://127.0.0.1:9000/hook
///   trace alarms create queue --namespace otel --metric queue.depth --statistic Maximum \
///       --threshold 10 --treat-missing-data notBreaching
///   trace alarms list                       every alarm and its state
///   trace alarms list busy-checkout --json
///   trace alarms history busy-checkout      its changes of state, newest first
///   trace alarms delete busy-checkout
///
/// JSON shapes (CloudWatch's): list: {"MetricAlarms": [{"AlarmName", "AlarmDescription",
/// "Namespace", "MetricName", "Dimensions": {K: V}, "Statistic", "Period", "EvaluationPeriods",
/// "DatapointsToAlarm", "ComparisonOperator", "Threshold", "TreatMissingData", "AlarmActions",
/// "StateValue", "StateReason", "StateUpdatedTimestamp", "History"}]}; history:
/// {"AlarmHistoryItems": [{"AlarmName", "Timestamp", "OldState", "NewState", "HistorySummary",
/// "Reason"}]}; create, delete: {}.
///
/// Exit status: 0 done, 1 list/history found nothing, 2 usage error or a request the server
/// refused (the message names the field), 3 server error or no server.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct AlarmsArgs {
    #[command(subcommand)]
    action: AlarmAction,
}

#[derive(Subcommand)]
enum AlarmAction {
    /// List alarms (every one, or those named) with their state.
    List {
        names: Vec<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Create an alarm, or replace one of the same name (it keeps its state and history).
    Create(Box<AlarmFields>),
    /// Delete alarms.
    Delete {
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// An alarm's (or every alarm's) changes of state, newest first.
    History {
        name: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Args)]
struct AlarmFields {
    /// The alarm's name.
    name: String,
    /// The metric's name: a group metric (ApproximateTraceCount…) or an OTLP metric's.
    #[arg(long)]
    metric: String,
    /// The metric's namespace.
    #[arg(long, default_value = "AWS/X-Ray")]
    namespace: String,
    /// A dimension of the metric, KEY=VALUE (GroupName=slow); repeat for several.
    #[arg(long = "dimension", value_name = "KEY=VALUE")]
    dimensions: Vec<String>,
    /// How a period's values become its datapoint.
    #[arg(long, default_value = "Average", value_parser = ["SampleCount", "Sum", "Average", "Minimum", "Maximum"])]
    statistic: String,
    /// Seconds per datapoint, a multiple of 60.
    #[arg(long, default_value_t = 60)]
    period: i64,
    /// N: how many recent periods are evaluated.
    #[arg(long, default_value_t = 1)]
    evaluation_periods: u64,
    /// M: breaching periods among the N that raise the alarm (default: N).
    #[arg(long)]
    datapoints_to_alarm: Option<u64>,
    /// >, >=, <, <= or CloudWatch's names (GreaterThanThreshold…).
    #[arg(long, default_value = ">", value_parser = comparison)]
    comparison: String,
    #[arg(long)]
    threshold: f64,
    /// How periods without data count.
    #[arg(long, default_value = "missing", value_parser = ["missing", "notBreaching", "breaching", "ignore"])]
    treat_missing_data: String,
    /// A URL POSTed a JSON notification on every change of state; repeat for several.
    #[arg(long = "webhook", value_name = "URL")]
    webhooks: Vec<String>,
    /// A description kept with the alarm.
    #[arg(long, default_value = "")]
    description: String,
    #[command(flatten)]
    api: ApiArgs,
}

/// CloudWatch's `ComparisonOperator` from a symbol or its own name.
fn comparison(text: &str) -> Result<String, String> {
    let name = match text {
        ">" => "GreaterThanThreshold",
        ">=" => "GreaterThanOrEqualToThreshold",
        "<" => "LessThanThreshold",
        "<=" => "LessThanOrEqualToThreshold",
        "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold" | "LessThanThreshold" | "LessThanOrEqualToThreshold" => {
            text
        }
        _ => return Err("expected >, >=, <, <= or GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold, LessThanOrEqualToThreshold".to_owned()),
    };
    Ok(name.to_owned())
}

fn symbol(operator: &Value) -> &'static str {
    match operator.as_str() {
        Some("GreaterThanThreshold") => ">",
        Some("GreaterThanOrEqualToThreshold") => ">=",
        Some("LessThanThreshold") => "<",
        Some("LessThanOrEqualToThreshold") => "<=",
        _ => "?",
    }
}

impl AlarmFields {
    fn request(&self) -> anyhow::Result<Value> {
        Ok(json!({
            "AlarmName": self.name, "AlarmDescription": self.description, "Namespace": self.namespace,
            "MetricName": self.metric, "Dimensions": key_values("--dimension", &self.dimensions)?,
            "Statistic": self.statistic, "Period": self.period, "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.datapoints_to_alarm.unwrap_or(self.evaluation_periods),
            "ComparisonOperator": self.comparison, "Threshold": self.threshold,
            "TreatMissingData": self.treat_missing_data, "AlarmActions": self.webhooks,
        }))
    }
}

pub(crate) async fn run(args: AlarmsArgs) -> anyhow::Result<()> {
    match args.action {
        AlarmAction::List { names, api } => {
            let answer = api.call("DescribeAlarms", &json!({"AlarmNames": names})).await;
            let alarms = answer["MetricAlarms"].as_array().cloned().unwrap_or_default();
            print(&api, &answer, &ALARM_TABLE, alarms.iter().map(alarm_row).collect())?;
            exit_if_empty(&alarms, "no alarms");
        }
        AlarmAction::Create(fields) => {
            let answer = fields.api.call("PutMetricAlarm", &fields.request()?).await;
            if fields.api.json {
                return fields.api.print_json(&answer);
            }
            let described = fields.api.call("DescribeAlarms", &json!({"AlarmNames": [fields.name]})).await;
            let alarms = described["MetricAlarms"].as_array().cloned().unwrap_or_default();
            print(&fields.api, &described, &ALARM_TABLE, alarms.iter().map(alarm_row).collect())?;
        }
        AlarmAction::Delete { names, api } => {
            let answer = api.call("DeleteAlarms", &json!({"AlarmNames": names})).await;
            if api.json {
                return api.print_json(&answer);
            }
            println!("deleted alarm{} {}", if names.len() == 1 { "" } else { "s" }, names.join(", "));
        }
        AlarmAction::History { name, api } => {
            let answer = api.call("DescribeAlarmHistory", &json!({"AlarmName": name})).await;
            let items = answer["AlarmHistoryItems"].as_array().cloned().unwrap_or_default();
            print(&api, &answer, &HISTORY_TABLE, items.iter().map(history_row).collect())?;
            exit_if_empty(&items, "no changes of state");
        }
    }
    Ok(())
}

fn print(api: &ApiArgs, answer: &Value, table: &Table<'_>, rows: Vec<Row>) -> anyhow::Result<()> {
    if api.json {
        return api.print_json(answer);
    }
    for line in table.render(&rows, &Terminal::stdout()) {
        println!("{line}");
    }
    Ok(())
}

fn exit_if_empty(list: &[Value], message: &str) {
    if list.is_empty() {
        eprintln!("{message}");
        std::process::exit(EXIT_NONE_MATCHED);
    }
}

fn state_colour(state: &Value) -> Option<&'static str> {
    match state.as_str() {
        Some("ALARM") => Some("31"),
        Some("OK") => Some("32"),
        _ => Some("33"),
    }
}

fn alarm_row(alarm: &Value) -> Row {
    let text = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    let dimensions: Vec<String> = alarm["Dimensions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
        .collect();
    let metric = format!("{}/{}{{{}}}", text(&alarm["Namespace"]), text(&alarm["MetricName"]), dimensions.join(","));
    let condition = format!(
        "{} {} {} for {} of {} × {}s",
        text(&alarm["Statistic"]),
        symbol(&alarm["ComparisonOperator"]),
        number(&alarm["Threshold"]),
        alarm["DatapointsToAlarm"],
        alarm["EvaluationPeriods"],
        alarm["Period"]
    );
    let since = alarm["StateUpdatedTimestamp"].as_f64().map_or("-".to_owned(), utc);
    Row {
        cells: vec![text(&alarm["AlarmName"]), text(&alarm["StateValue"]), metric, condition, since],
        colour: state_colour(&alarm["StateValue"]),
    }
}

fn history_row(item: &Value) -> Row {
    let text = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    Row {
        cells: vec![
            item["Timestamp"].as_f64().map_or("-".to_owned(), utc),
            text(&item["AlarmName"]),
            text(&item["OldState"]),
            text(&item["NewState"]),
            text(&item["Reason"]).replace('\n', " "),
        ],
        colour: state_colour(&item["NewState"]),
    }
}

/// `2`, `0.5`: a threshold as written.
fn number(value: &Value) -> String {
    match value.as_f64() {
        Some(number) if number.fract() == 0.0 && number.abs() < 1e15 => format!("{}", number as i64),
        Some(number) => number.to_string(),
        None => "-".to_owned(),
    }
}
