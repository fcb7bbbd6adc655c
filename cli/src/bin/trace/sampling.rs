//! `trace sampling list|create|update|delete`: X-Ray's sampling rule operations
//! (`POST /GetSamplingRules`, `/CreateSamplingRule`, `/UpdateSamplingRule`,
//! `/DeleteSamplingRule`), as tables or X-Ray's JSON.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::query::{key_values, ApiArgs};
use crate::table::{Align, Row, Table, Terminal};

const RULE_TABLE: Table<'static> = Table {
    header: &["NAME", "PRIORITY", "RESERVOIR", "RATE", "SERVICE", "TYPE", "HOST", "METHOD", "PATH", "ATTRIBUTES"],
    align: &[
        Align::Left,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Left,
    ],
    flexible: Some(8),
    coloured: None,
};

/// Manage sampling rules: which requests the SDKs and sidecars record, in priority order.
///
/// A rule matches a request when every criterion matches (`*` and `?` wildcards); the first
/// matching rule by priority (lowest first) decides: RESERVOIR requests per second, then RATE
/// of the rest.
///
/// Examples:
///   trace sampling list
///   trace sampling create checkout --priority 10 --fixed-rate 0.5 --url-path '/checkout*'
///   trace sampling create payments --service payments --reservoir 5 --attribute tier=gold
///   trace sampling update checkout --fixed-rate 0.1
///   trace sampling delete checkout
///
/// JSON shapes: X-Ray's. list: {"SamplingRuleRecords": [SamplingRuleRecord]}; create, update,
/// delete: {"SamplingRuleRecord": {"SamplingRule": {"RuleName", "RuleARN", "ResourceARN",
/// "Priority", "FixedRate", "ReservoirSize", "ServiceName", "ServiceType", "Host", "HTTPMethod",
/// "URLPath", "Version", "Attributes"}, "CreatedAt", "ModifiedAt"}}.
///
/// Exit status: 0 done, 2 usage error or a request the server refused (the message names the
/// field), 3 server error or no server.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct SamplingArgs {
    #[command(subcommand)]
    action: RuleAction,
}

#[derive(Subcommand)]
enum RuleAction {
    /// List every rule by priority, Default (priority 10000) last.
    List(ApiArgs),
    /// Create a rule; unnamed criteria match everything (`*`).
    Create(RuleFields),
    /// Change a rule; what is not given stays.
    Update(RuleFields),
    /// Delete a rule.
    Delete {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Args)]
struct RuleFields {
    /// The rule's name.
    name: String,
    /// Lower goes first: 1–9999 (create: 1000).
    #[arg(long)]
    priority: Option<i64>,
    /// Share of requests beyond the reservoir that are sampled, 0–1 (create: 0.05).
    #[arg(long)]
    fixed_rate: Option<f64>,
    /// Requests per second sampled before the rate applies (create: 1).
    #[arg(long)]
    reservoir: Option<i64>,
    /// Service name to match (create: *).
    #[arg(long)]
    service: Option<String>,
    /// Service type to match, e.g. AWS::EC2::Instance (create: *).
    #[arg(long)]
    service_type: Option<String>,
    /// Host to match (create: *).
    #[arg(long)]
    host: Option<String>,
    /// HTTP method to match (create: *).
    #[arg(long)]
    method: Option<String>,
    /// URL path to match (create: *).
    #[arg(long)]
    url_path: Option<String>,
    /// Resource ARN to match (create: *).
    #[arg(long)]
    resource_arn: Option<String>,
    /// A segment attribute to match, KEY=VALUE; repeat for several.
    #[arg(long = "attribute", value_name = "KEY=VALUE")]
    attributes: Vec<String>,
    #[command(flatten)]
    api: ApiArgs,
}

/// Creation defaults: X-Ray console's for a new rule.
const CREATE_PRIORITY: i64 = 1000;
const CREATE_FIXED_RATE: f64 = 0.05;
const CREATE_RESERVOIR: i64 = 1;

impl RuleFields {
    /// The given fields in X-Ray's member names.
    fn given(&self) -> anyhow::Result<serde_json::Map<String, Value>> {
        let mut fields = serde_json::Map::new();
        fields.insert("RuleName".into(), json!(self.name));
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                fields.insert(name.to_owned(), value);
            }
        };
        put("Priority", self.priority.map(Value::from));
        put("FixedRate", self.fixed_rate.map(Value::from));
        put("ReservoirSize", self.reservoir.map(Value::from));
        put("ServiceName", self.service.as_ref().map(|text| json!(text)));
        put("ServiceType", self.service_type.as_ref().map(|text| json!(text)));
        put("Host", self.host.as_ref().map(|text| json!(text)));
        put("HTTPMethod", self.method.as_ref().map(|text| json!(text)));
        put("URLPath", self.url_path.as_ref().map(|text| json!(text)));
        put("ResourceARN", self.resource_arn.as_ref().map(|text| json!(text)));
        if !self.attributes.is_empty() {
            fields.insert("Attributes".into(), key_values("--attribute", &self.attributes)?);
        }
        Ok(fields)
    }

    fn create_request(&self) -> anyhow::Result<Value> {
        let mut rule = json!({"Priority": CREATE_PRIORITY, "FixedRate": CREATE_FIXED_RATE,
                              "ReservoirSize": CREATE_RESERVOIR, "ServiceName": "*", "ServiceType": "*",
                              "Host": "*", "HTTPMethod": "*", "URLPath": "*", "ResourceARN": "*", "Version": 1});
        if let Some(rule) = rule.as_object_mut() {
            rule.extend(self.given()?);
        }
        Ok(json!({"SamplingRule": rule}))
    }
}

pub(crate) async fn run(args: SamplingArgs) -> anyhow::Result<()> {
    let (api, answer) = match &args.action {
        RuleAction::List(api) => (api, api.call("GetSamplingRules", &json!({})).await),
        RuleAction::Create(fields) => {
            (&fields.api, fields.api.call("CreateSamplingRule", &fields.create_request()?).await)
        }
        RuleAction::Update(fields) => {
            let request = json!({"SamplingRuleUpdate": fields.given()?});
            (&fields.api, fields.api.call("UpdateSamplingRule", &request).await)
        }
        RuleAction::Delete { name, api } => (api, api.call("DeleteSamplingRule", &json!({"RuleName": name})).await),
    };
    if api.json {
        return api.print_json(&answer);
    }
    if let RuleAction::Delete { name, .. } = &args.action {
        println!("deleted sampling rule {name}");
        return Ok(());
    }
    let records = match answer["SamplingRuleRecords"].as_array() {
        Some(records) => records.clone(),
        None => vec![answer["SamplingRuleRecord"].clone()],
    };
    let rows: Vec<Row> = records.iter().map(|record| row(&record["SamplingRule"])).collect();
    for line in RULE_TABLE.render(&rows, &Terminal::stdout()) {
        println!("{line}");
    }
    Ok(())
}

fn row(rule: &Value) -> Row {
    let text = |field: &str| match &rule[field] {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let attributes: Vec<String> = rule["Attributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
        .collect();
    Row::plain(vec![
        text("RuleName"),
        text("Priority"),
        text("ReservoirSize"),
        text("FixedRate"),
        text("ServiceName"),
        text("ServiceType"),
        text("Host"),
        text("HTTPMethod"),
        text("URLPath"),
        if attributes.is_empty() { "-".to_owned() } else { attributes.join(",") },
    ])
}
