//! `trace groups list|get|create|update|delete`: X-Ray's group operations (`POST /Groups`,
//! `/GetGroup`, `/CreateGroup`, `/UpdateGroup`, `/DeleteGroup`), as tables or X-Ray's JSON.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::query::{follow_pages, ApiArgs};
use crate::table::{Align, Row, Table, Terminal};

const GROUP_TABLE: Table<'static> = Table {
    header: &["NAME", "FILTER", "INSIGHTS", "NOTIFICATIONS"],
    align: &[Align::Left, Align::Left, Align::Left, Align::Left],
    flexible: Some(1),
    coloured: None,
};

/// Manage groups: named filter expressions that scope the map, queries and group metrics.
///
/// Examples:
///   trace groups list
///   trace groups create slow --filter 'responsetime > 2'
///   trace groups create checkout --filter 'http.url CONTAINS "/checkout"' --insights
///   trace groups update slow --filter 'responsetime > 3'
///   trace groups get slow --json
///   trace groups delete slow
///
/// JSON shapes: X-Ray's. list: {"Groups": [Group]}; get, create, update: {"Group": Group} with
/// Group = {"GroupName", "GroupARN", "FilterExpression"?, "InsightsConfiguration":
/// {"InsightsEnabled", "NotificationsEnabled"}}; delete: {}.
///
/// Exit status: 0 done, 2 usage error or a request the server refused (an unknown group; a bad
/// filter is shown with a caret under the column), 3 server error or no server.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct GroupsArgs {
    #[command(subcommand)]
    action: GroupAction,
}

#[derive(Subcommand)]
enum GroupAction {
    /// List every group, Default included, by name.
    List(ApiArgs),
    /// Show one group.
    Get {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Create a group.
    Create(GroupFields),
    /// Change a group's filter or insights settings; what is not given stays.
    Update(GroupFields),
    /// Delete a group.
    Delete {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Args)]
struct GroupFields {
    /// The group's name.
    name: String,
    /// The filter expression selecting the group's traces (none: every trace).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Turn X-Ray Insights on or off for the group.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    insights: Option<bool>,
    /// Turn insight notifications on or off for the group.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    notifications: Option<bool>,
    #[command(flatten)]
    api: ApiArgs,
}

impl GroupFields {
    fn request(&self) -> Value {
        let mut request = json!({"GroupName": self.name});
        if let Some(filter) = &self.filter {
            request["FilterExpression"] = json!(filter);
        }
        if self.insights.is_some() || self.notifications.is_some() {
            request["InsightsConfiguration"] =
                json!({"InsightsEnabled": self.insights, "NotificationsEnabled": self.notifications});
        }
        request
    }
}

pub(crate) async fn run(args: GroupsArgs) -> anyhow::Result<()> {
    match args.action {
        GroupAction::List(api) => {
            let groups = list(&api).await;
            output(&api, &json!({"Groups": groups}), &groups)
        }
        GroupAction::Get { name, api } => {
            let answer = api.call("GetGroup", &json!({"GroupName": name})).await;
            output(&api, &answer, std::slice::from_ref(&answer["Group"]))
        }
        GroupAction::Create(fields) => change(&fields, "CreateGroup").await,
        GroupAction::Update(fields) => change(&fields, "UpdateGroup").await,
        GroupAction::Delete { name, api } => {
            let answer = api.call("DeleteGroup", &json!({"GroupName": name})).await;
            if api.json {
                return api.print_json(&answer);
            }
            println!("deleted group {name}");
            Ok(())
        }
    }
}

async fn change(fields: &GroupFields, operation: &str) -> anyhow::Result<()> {
    let expression = fields.filter.as_deref().unwrap_or_default();
    let answer = fields.api.call_with_expression(operation, &fields.request(), expression).await;
    output(&fields.api, &answer, std::slice::from_ref(&answer["Group"]))
}

/// Every page of GetGroups.
async fn list(api: &ApiArgs) -> Vec<Value> {
    let page = |token, _| {
        let request = json!({"NextToken": token});
        async move { api.call("Groups", &request).await }
    };
    follow_pages("Groups", usize::MAX, page).await.items
}

fn output(api: &ApiArgs, answer: &Value, groups: &[Value]) -> anyhow::Result<()> {
    if api.json {
        return api.print_json(answer);
    }
    let yes_no = |value: &Value| if *value == json!(true) { "on" } else { "off" }.to_owned();
    let rows: Vec<Row> = groups
        .iter()
        .map(|group| {
            Row::plain(vec![
                group["GroupName"].as_str().unwrap_or("-").to_owned(),
                group["FilterExpression"].as_str().unwrap_or("(every trace)").to_owned(),
                yes_no(&group["InsightsConfiguration"]["InsightsEnabled"]),
                yes_no(&group["InsightsConfiguration"]["NotificationsEnabled"]),
            ])
        })
        .collect();
    for line in GROUP_TABLE.render(&rows, &Terminal::stdout()) {
        println!("{line}");
    }
    Ok(())
}
