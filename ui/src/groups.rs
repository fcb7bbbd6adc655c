//! `POST /CreateGroup`, `/GetGroup`, `/Groups` (GetGroups), `/UpdateGroup` and `/DeleteGroup`
//! — X-Ray's group operations (spec `xray.md` §4.3 "Groups", Appendix A) over
//! `fluoro_analyzer::Groups`, whose module doc holds the rules.
//!
//! - Answers use X-Ray's `Group` shape: `GroupName`, `GroupARN`, `FilterExpression` (absent for
//!   a group of every trace), `InsightsConfiguration`. `Tags` are stored, not returned, as in
//!   X-Ray (which returns them through `ListTagsForResource`).
//! - Every refusal, an unknown group included, is `InvalidRequestException` (400); an invalid
//!   filter expression carries the parser's message with its column.
//! - GetGroups pages hold [`GROUPS_PAGE_SIZE`] groups in name order. `NextToken` is hex of
//!   `v1:<last name of the page>`, so a page follows on correctly while groups come and go.
//! - Changes rewrite and sync `groups.json`: blocking I/O, so `spawn_blocking`.
//!
//! [`group_of_request`] is how the graph routes turn `GroupName`/`GroupARN` into a group;
//! [`group_scope`] how the analysis routes do.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Json, Router};
use fluoro_analyzer::{
    Group, GroupError, GroupRef, GroupSelector, GroupUpdate, Groups, InsightsConfiguration, InsightsUpdate, NewGroup,
    Tag, DEFAULT_GROUP_NAME, MAX_GROUP_FILTER_CHARS, MAX_GROUP_TAGS,
};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Result};
use crate::request::parse_body;

/// Groups per GetGroups page.
pub(crate) const GROUPS_PAGE_SIZE: usize = 10;
const TOKEN_VERSION: &str = "v1";
/// The model's limit on GetGroups' `NextToken`.
const MAX_TOKEN_CHARS: usize = 100;
/// The largest valid request: a maximal filter and every tag at its longest, escaped.
const MAX_BODY_BYTES: usize = 6 * MAX_GROUP_FILTER_CHARS + MAX_GROUP_TAGS * 6 * (128 + 256) + 16 * 1024;

pub(crate) fn router(groups: Arc<Groups>) -> Router {
    Router::new()
        .route("/CreateGroup", post(create_group))
        .route("/GetGroup", post(get_group))
        .route("/Groups", post(get_groups))
        .route("/UpdateGroup", post(update_group))
        .route("/DeleteGroup", post(delete_group))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(groups)
}

/// The group a graph request names; neither `GroupName` nor `GroupARN` means `Default`.
pub(crate) fn group_of_request(groups: &Groups, name: Option<&str>, arn: Option<&str>) -> Result<Group> {
    let selector = match (name, arn) {
        (None, None) => GroupSelector { name: Some(DEFAULT_GROUP_NAME), arn: None },
        (name, arn) => GroupSelector { name, arn },
    };
    Ok(groups.get(selector)?)
}

/// The group an analysis request restricts its traces to (`/api/histogram`, `/api/compare`);
/// `None` when none is named or the group holds every trace (`Default`, or any group without
/// a filter). An unknown group is refused here, before any data is read.
pub(crate) fn group_scope(groups: &Groups, name: Option<&str>, arn: Option<&str>) -> Result<Option<GroupRef>> {
    if name.is_none() && arn.is_none() {
        return Ok(None);
    }
    let group = group_of_request(groups, name, arn)?;
    Ok(group.filter_expression.is_some().then_some(GroupRef::Name(group.group_name)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGroupRequest {
    group_name: Option<String>,
    filter_expression: Option<String>,
    insights_configuration: Option<InsightsUpdate>,
    tags: Option<Vec<Tag>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SelectGroupRequest {
    group_name: Option<String>,
    #[serde(rename = "GroupARN")]
    group_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateGroupRequest {
    group_name: Option<String>,
    #[serde(rename = "GroupARN")]
    group_arn: Option<String>,
    filter_expression: Option<String>,
    insights_configuration: Option<InsightsUpdate>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetGroupsRequest {
    next_token: Option<String>,
}

/// X-Ray's `Group` and `GroupSummary` (the same members).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GroupView {
    group_name: String,
    #[serde(rename = "GroupARN")]
    group_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter_expression: Option<String>,
    insights_configuration: InsightsConfiguration,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GroupResponse {
    group: GroupView,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetGroupsResponse {
    groups: Vec<GroupView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct DeleteGroupResponse {}

impl From<Group> for GroupView {
    fn from(group: Group) -> Self {
        GroupView {
            group_name: group.group_name,
            group_arn: group.group_arn,
            filter_expression: group.filter_expression,
            insights_configuration: group.insights_configuration,
        }
    }
}

impl From<Group> for GroupResponse {
    fn from(group: Group) -> Self {
        GroupResponse { group: group.into() }
    }
}

type GroupsState = State<Arc<Groups>>;

async fn create_group(State(groups): GroupsState, body: Bytes) -> Result<Json<GroupResponse>> {
    let request: CreateGroupRequest = parse_body(&body, "CreateGroup")?;
    let name = request.group_name.ok_or_else(|| ApiError::InvalidRequest("GroupName is required".to_owned()))?;
    let new = NewGroup {
        name,
        filter_expression: request.filter_expression,
        insights: request.insights_configuration.unwrap_or_default(),
        tags: request.tags.unwrap_or_default(),
    };
    Ok(Json(blocking(move || groups.create(new)).await?.into()))
}

async fn get_group(State(groups): GroupsState, body: Bytes) -> Result<Json<GroupResponse>> {
    let request: SelectGroupRequest = parse_body(&body, "GetGroup")?;
    let selector = GroupSelector { name: request.group_name.as_deref(), arn: request.group_arn.as_deref() };
    Ok(Json(groups.get(selector)?.into()))
}

async fn get_groups(State(groups): GroupsState, body: Bytes) -> Result<Json<GetGroupsResponse>> {
    let request: GetGroupsRequest = parse_body(&body, "GetGroups")?;
    let after = request.next_token.as_deref().map(decode_token).transpose()?;
    let page = groups.page(after.as_deref(), GROUPS_PAGE_SIZE);
    let next_token = match page.groups.last() {
        Some(last) if page.more => Some(encode_token(&last.group_name)),
        _ => None,
    };
    Ok(Json(GetGroupsResponse { groups: page.groups.into_iter().map(GroupView::from).collect(), next_token }))
}

async fn update_group(State(groups): GroupsState, body: Bytes) -> Result<Json<GroupResponse>> {
    let request: UpdateGroupRequest = parse_body(&body, "UpdateGroup")?;
    let update = GroupUpdate { filter_expression: request.filter_expression, insights: request.insights_configuration };
    let updated = blocking(move || {
        let selector = GroupSelector { name: request.group_name.as_deref(), arn: request.group_arn.as_deref() };
        groups.update(selector, update)
    })
    .await?;
    Ok(Json(updated.into()))
}

async fn delete_group(State(groups): GroupsState, body: Bytes) -> Result<Json<DeleteGroupResponse>> {
    let request: SelectGroupRequest = parse_body(&body, "DeleteGroup")?;
    blocking(move || {
        let selector = GroupSelector { name: request.group_name.as_deref(), arn: request.group_arn.as_deref() };
        groups.delete(selector)
    })
    .await?;
    Ok(Json(DeleteGroupResponse {}))
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, GroupError> + Send + 'static) -> Result<T> {
    let answer = tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(format!("group change task failed: {error}")))?;
    Ok(answer?)
}

fn encode_token(last_name: &str) -> String {
    format!("{TOKEN_VERSION}:{last_name}").bytes().map(|byte| format!("{byte:02x}")).collect()
}

/// The last group name of the page before.
fn decode_token(token: &str) -> Result<String> {
    let invalid = || ApiError::InvalidRequest("NextToken is not a token this server issued".to_owned());
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Err(invalid());
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|at| token.get(at..at + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect();
    let text = String::from_utf8(bytes.ok_or_else(invalid)?).map_err(|_| invalid())?;
    let last_name = text.strip_prefix(TOKEN_VERSION).and_then(|rest| rest.strip_prefix(':')).ok_or_else(invalid)?;
    Ok(last_name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_fit_the_model() {
        let longest = "x".repeat(fluoro_analyzer::MAX_GROUP_NAME_CHARS);
        let token = encode_token(&longest);
        assert!(token.len() <= MAX_TOKEN_CHARS, "{}", token.len());
        assert_eq!(decode_token(&token).unwrap(), longest);
        for bad in ["", "zz", "7631", &"a".repeat(101)] {
            assert!(decode_token(bad).is_err(), "{bad:?}");
        }
    }
}
