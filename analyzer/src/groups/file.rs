//! `groups.json`: the registry on disk ([`Groups::open`](super::Groups::open)), the pattern of the
//! collector's `sampling-rules.json`:
//! - one JSON file, rewritten whole on every change: written to `<file>.tmp`, synced, renamed
//!   over the file, so a crash leaves either the old or the new set;
//! - groups in the API's own `Group` shape plus their `Tags`, so the file reads like a `GetGroups`
//!   answer and can be edited by hand; it is validated on load with the rules above.
//!
//! ```text
//! version 1
//! {
//!   "version": 1,
//!   "groups": [ { "GroupName": "slow", "GroupARN": "arn:aws:xray:local:000000000000:group/slow/…",
//!                 "FilterExpression": "responsetime > 5",
//!                 "InsightsConfiguration": { "InsightsEnabled": false, "NotificationsEnabled": false },
//!                 "Tags": [ { "Key": "team", "Value": "checkout" } ] } ]
//! }
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{
    check_name, checked_filter, checked_tags, default_group, group_arn, Group, GroupSet, InsightsConfiguration,
    InsightsUpdate, DEFAULT_GROUP_NAME, MAX_GROUPS, MAX_GROUP_ARN_CHARS,
};
use crate::error::GroupError;

const FILE_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupsFile {
    version: u32,
    groups: Vec<Group>,
}

pub(super) fn load(path: &Path, bytes: &[u8]) -> Result<GroupSet, GroupError> {
    let invalid = |reason: String| GroupError::InvalidFile { path: path.to_owned(), reason };
    let file: GroupsFile = serde_json::from_slice(bytes).map_err(|error| invalid(error.to_string()))?;
    if file.version != FILE_FORMAT_VERSION {
        return Err(invalid(format!("expected version {FILE_FORMAT_VERSION}, got {}", file.version)));
    }
    let mut set = GroupSet::with_default();
    let mut seen = BTreeSet::new();
    for group in file.groups {
        let name = group.group_name.clone();
        if !seen.insert(name.clone()) {
            return Err(invalid(format!("group {name:?} appears twice")));
        }
        let checked = check_stored_group(group).map_err(|error| invalid(format!("group {name:?}: {error}")))?;
        set.by_name.insert(name, checked);
    }
    if set.by_name.len() > MAX_GROUPS + 1 {
        return Err(invalid(format!("more than {MAX_GROUPS} groups besides Default")));
    }
    set.check_references().map_err(|error| invalid(error.to_string()))?;
    Ok(set)
}

/// A group read from the file, held to the rules a request is.
fn check_stored_group(group: Group) -> Result<Group, GroupError> {
    if group.group_name == DEFAULT_GROUP_NAME {
        // Only its insights may differ from the built-in one.
        return Ok(Group { insights_configuration: group.insights_configuration, ..default_group() });
    }
    check_name(&group.group_name)?;
    let expected_prefix = format!("{}/", group_arn(&group.group_name, None));
    if !group.group_arn.starts_with(&expected_prefix) || group.group_arn.chars().count() > MAX_GROUP_ARN_CHARS {
        return Err(GroupError::Invalid(format!("GroupARN must start with {expected_prefix}")));
    }
    InsightsConfiguration::default().updated(InsightsUpdate {
        insights_enabled: Some(group.insights_configuration.insights_enabled),
        notifications_enabled: Some(group.insights_configuration.notifications_enabled),
    })?;
    Ok(Group {
        filter_expression: checked_filter(group.filter_expression.as_deref())?,
        tags: checked_tags(group.tags.clone())?,
        ..group
    })
}

pub(super) fn save(path: &Path, set: &GroupSet) -> Result<(), GroupError> {
    let file = GroupsFile { version: FILE_FORMAT_VERSION, groups: set.by_name.values().cloned().collect() };
    let write_error = |source| GroupError::Write { path: path.to_owned(), source };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|error| write_error(std::io::Error::other(error)))?;
    if let Some(directory) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs::create_dir_all(directory).map_err(write_error)?;
    }
    fluoro_proto::replace_durably(path, &bytes).map_err(write_error)
}
