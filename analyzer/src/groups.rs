//! X-Ray groups (spec `xray.md` §4.3 "Groups" and §6, `filter-expressions.md` `group.name` /
//! `group.arn`): named filter expressions that scope the service graph, the time series and
//! trace searches. [`Groups`] is the registry and the [`GroupResolver`] filter compilation
//! inlines `group.name = "G"` with.
//!
//! Rules:
//! - `Default` always exists and holds every trace: it has no filter expression, cannot be
//!   created, deleted or given a filter; its `InsightsConfiguration` can change (the X-Ray
//!   console lets you enable insights on it).
//! - A name is 1 to 32 characters (the model's limit) of ASCII letters, digits, `-`, `_` and `.`,
//!   unique and case-sensitive. The model allows more, but the name sits in the ARN between two
//!   `/` and in filter strings, where other characters would need care from every client.
//! - A filter expression must parse (the parser's column-precise message otherwise), every group
//!   it names must exist, and references may neither loop nor chain more than
//!   [`MAX_GROUP_DEPTH`] groups, the depth compilation inlines. A group other groups refer to
//!   cannot be deleted, so no stored filter ever refers to a missing group.
//! - At most [`MAX_GROUPS`] groups besides `Default`; at most [`MAX_GROUP_TAGS`] tags each
//!   (X-Ray's limit on user tags), keys 1-128 and values 0-256 characters.
//! - ARNs are `arn:aws:xray:local:000000000000:group/<GroupName>/<id>`, with the collector's
//!   placeholder region and account and a random id, so a group deleted and created again under
//!   the same name gets a new ARN, as in X-Ray. `Default`'s ARN has no id.
//! - X-Ray judges each trace against a group when it is ingested, so a filter change applies only
//!   to later traces (`ContainsOldGroupVersions`). Fluoro evaluates the filter when a question is
//!   asked, over every stored trace: the answer always reflects the current filter.
//!
//! Persistence: `file.rs` ([`Groups::open`], `groups.json`, written atomically).

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use fluoro_store::Store;
use polars::prelude::IntoLazy;
use serde::{Deserialize, Serialize};

use crate::error::{GroupError, Result};
use crate::filter::{compile_filter, parse_filter, FilterExpr, GroupRef, GroupResolver, MatchFrames};
use crate::trace_frame::{window_traces, TimeRangeType};
use crate::trace_set::TraceIdSet;

pub use crate::filter::MAX_GROUP_DEPTH;

/// The group every trace belongs to.
pub const DEFAULT_GROUP_NAME: &str = "Default";
/// Groups besides `Default` (X-Ray's default quota is 25 per region).
pub const MAX_GROUPS: usize = 25;
pub const MAX_GROUP_NAME_CHARS: usize = 32;
pub const MAX_GROUP_ARN_CHARS: usize = 400;
/// The model sets no limit on a group's filter; this keeps the file and every compile small.
pub const MAX_GROUP_FILTER_CHARS: usize = 4096;
pub const MAX_GROUP_TAGS: usize = 50;
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;

/// A group, in X-Ray's `Group` shape plus its tags (which X-Ray returns only through
/// `ListTagsForResource`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Group {
    pub group_name: String,
    #[serde(rename = "GroupARN")]
    pub group_arn: String,
    /// `None`: every trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_expression: Option<String>,
    #[serde(default)]
    pub insights_configuration: InsightsConfiguration,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// `InsightsEnabled`: `fluoro serve` runs insight detection on the group (`insights.rs`; the
/// `Default` group always); `NotificationsEnabled`: its insights notify on open and close.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InsightsConfiguration {
    pub insights_enabled: bool,
    pub notifications_enabled: bool,
}

/// `InsightsConfiguration` as requests carry it: absent members keep their value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InsightsUpdate {
    pub insights_enabled: Option<bool>,
    pub notifications_enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// `CreateGroup`'s input.
#[derive(Debug, Clone, Default)]
pub struct NewGroup {
    pub name: String,
    /// Empty or absent: every trace.
    pub filter_expression: Option<String>,
    pub insights: InsightsUpdate,
    pub tags: Vec<Tag>,
}

/// `UpdateGroup`'s input: absent fields stay as they are; an empty filter means every trace.
#[derive(Debug, Clone, Default)]
pub struct GroupUpdate {
    pub filter_expression: Option<String>,
    pub insights: Option<InsightsUpdate>,
}

/// A request's `GroupName` and `GroupARN`; when both are given they must name the same group.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupSelector<'a> {
    pub name: Option<&'a str>,
    pub arn: Option<&'a str>,
}

/// One page of groups in name order.
#[derive(Debug, Clone)]
pub struct GroupPage {
    pub groups: Vec<Group>,
    /// More groups follow the last one of this page.
    pub more: bool,
}

/// The registry, optionally persisted.
#[derive(Debug)]
pub struct Groups {
    file: Option<PathBuf>,
    set: RwLock<GroupSet>,
}

#[derive(Debug, Clone)]
struct GroupSet {
    by_name: BTreeMap<String, Group>,
}

impl Groups {
    /// Groups kept only in memory, starting with just `Default`.
    pub fn in_memory() -> Groups {
        Groups { file: None, set: RwLock::new(GroupSet::with_default()) }
    }

    /// Groups persisted in `path`, which is created with just `Default` when absent.
    pub fn open(path: &Path) -> Result<Groups, GroupError> {
        let set = match fs::read(path) {
            Ok(bytes) => file::load(path, &bytes)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let set = GroupSet::with_default();
                file::save(path, &set)?;
                set
            }
            Err(source) => return Err(GroupError::Read { path: path.to_owned(), source }),
        };
        Ok(Groups { file: Some(path.to_owned()), set: RwLock::new(set) })
    }

    /// The group `selector` names.
    pub fn get(&self, selector: GroupSelector<'_>) -> Result<Group, GroupError> {
        self.read().resolve(selector).cloned()
    }

    /// Every group, in name order.
    pub fn list(&self) -> Vec<Group> {
        self.read().by_name.values().cloned().collect()
    }

    /// At most `size` groups whose names sort after `after` (the last name of the previous page).
    pub fn page(&self, after: Option<&str>, size: usize) -> GroupPage {
        let set = self.read();
        let mut following = set.by_name.values().filter(|group| after.is_none_or(|after| *group.group_name > *after));
        let groups: Vec<Group> = following.by_ref().take(size.max(1)).cloned().collect();
        GroupPage { groups, more: following.next().is_some() }
    }

    pub fn create(&self, new: NewGroup) -> Result<Group, GroupError> {
        check_name(&new.name)?;
        let tags = checked_tags(new.tags)?;
        let insights = InsightsConfiguration::default().updated(new.insights)?;
        self.change(|set| {
            if set.by_name.contains_key(&new.name) {
                return Err(GroupError::Invalid(format!("a group named {:?} already exists", new.name)));
            }
            if set.by_name.len() > MAX_GROUPS {
                return Err(GroupError::LimitExceeded);
            }
            let group = Group {
                group_arn: group_arn(&new.name, Some(&random_id())),
                group_name: new.name.clone(),
                filter_expression: checked_filter(new.filter_expression.as_deref())?,
                insights_configuration: insights,
                tags,
            };
            set.by_name.insert(new.name.clone(), group.clone());
            Ok(group)
        })
    }

    pub fn update(&self, selector: GroupSelector<'_>, update: GroupUpdate) -> Result<Group, GroupError> {
        self.change(|set| {
            let name = set.resolve(selector)?.group_name.clone();
            let filter = update.filter_expression.as_deref().map(|text| checked_filter(Some(text))).transpose()?;
            if name == DEFAULT_GROUP_NAME && filter.as_ref().is_some_and(Option::is_some) {
                return Err(GroupError::Invalid(
                    "the Default group holds every trace; its FilterExpression cannot be set".to_owned(),
                ));
            }
            let Some(group) = set.by_name.get_mut(&name) else { return Err(GroupError::NotFound(name)) };
            if let Some(filter) = filter {
                group.filter_expression = filter;
            }
            if let Some(insights) = update.insights {
                group.insights_configuration = group.insights_configuration.updated(insights)?;
            }
            Ok(group.clone())
        })
    }

    /// Deletes the group `selector` names and returns it as it was.
    pub fn delete(&self, selector: GroupSelector<'_>) -> Result<Group, GroupError> {
        self.change(|set| {
            let name = set.resolve(selector)?.group_name.clone();
            if name == DEFAULT_GROUP_NAME {
                return Err(GroupError::Invalid("the Default group cannot be deleted".to_owned()));
            }
            if let Some(user) = set.groups_referring_to(&name)?.first() {
                return Err(GroupError::Invalid(format!(
                    "group {name:?} is used by the filter expression of group {user:?}; change or delete that group first"
                )));
            }
            set.by_name.remove(&name).ok_or(GroupError::NotFound(name))
        })
    }

    /// The traces of `group` with a span starting in `[from_us, to_us)`, judged by the group's
    /// current filter; `None` when the group holds every trace (nothing to restrict).
    pub fn traces(&self, store: &Store, group: &Group, from_us: i64, to_us: i64) -> Result<Option<TraceIdSet>> {
        let Some(text) = group.filter_expression.as_deref() else { return Ok(None) };
        traces_matching(store, &parse_filter(text)?, self, from_us, to_us).map(Some)
    }

    /// Applies `edit` to a copy of the set, checks every filter's references, saves the copy, and
    /// only then makes it current, so that a refused or failed change changes nothing.
    fn change<T>(&self, edit: impl FnOnce(&mut GroupSet) -> Result<T, GroupError>) -> Result<T, GroupError> {
        let mut set = self.set.write().unwrap_or_else(PoisonError::into_inner);
        let mut edited = set.clone();
        let outcome = edit(&mut edited)?;
        edited.check_references()?;
        if let Some(path) = &self.file {
            file::save(path, &edited)?;
        }
        *set = edited;
        Ok(outcome)
    }

    // A panic elsewhere while holding the lock cannot leave the set half-edited (`change` swaps
    // in a finished copy), so a poisoned lock still guards a consistent set.
    fn read(&self) -> RwLockReadGuard<'_, GroupSet> {
        self.set.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl GroupResolver for Groups {
    fn group_filter(&self, group: &GroupRef) -> Option<String> {
        let set = self.read();
        set.lookup(group).map(|group| group.filter_expression.clone().unwrap_or_default())
    }
}

/// The traces with a span starting in `[from_us, to_us)` that match `filter`, judged on whole
/// traces (spans up to [`TRACE_SLACK_US`](crate::TRACE_SLACK_US) outside the window count), as GetTraceSummaries does.
pub fn traces_matching(
    store: &Store,
    filter: &FilterExpr,
    groups: &dyn GroupResolver,
    from_us: i64,
    to_us: i64,
) -> Result<TraceIdSet> {
    let compiled = compile_filter(filter, groups)?;
    let columns = compiled.span_columns();
    let (spans, candidates) = window_traces(store, from_us, to_us, &columns, TimeRangeType::Event)?;
    let matched = compiled.apply(&MatchFrames::new(spans), candidates)?;
    TraceIdSet::from_frame(matched.lazy())
}

impl GroupSet {
    fn with_default() -> GroupSet {
        GroupSet { by_name: BTreeMap::from([(DEFAULT_GROUP_NAME.to_owned(), default_group())]) }
    }

    fn resolve(&self, selector: GroupSelector<'_>) -> Result<&Group, GroupError> {
        if let Some(name) = selector.name {
            check_selector_length("GroupName", name, MAX_GROUP_NAME_CHARS)?;
        }
        if let Some(arn) = selector.arn {
            check_selector_length("GroupARN", arn, MAX_GROUP_ARN_CHARS)?;
        }
        match (selector.name, selector.arn) {
            (Some(name), arn) => {
                let group = self.by_name.get(name).ok_or_else(|| GroupError::NotFound(name.to_owned()))?;
                match arn {
                    Some(arn) if arn != group.group_arn => Err(GroupError::Invalid(format!(
                        "GroupName {name:?} and GroupARN {arn:?} name different groups"
                    ))),
                    _ => Ok(group),
                }
            }
            (None, Some(arn)) => self.by_arn(arn).ok_or_else(|| GroupError::NotFound(arn.to_owned())),
            (None, None) => Err(GroupError::Invalid("GroupName or GroupARN is required".to_owned())),
        }
    }

    fn by_arn(&self, arn: &str) -> Option<&Group> {
        self.by_name.values().find(|group| group.group_arn == arn)
    }

    fn lookup(&self, reference: &GroupRef) -> Option<&Group> {
        match reference {
            GroupRef::Name(name) => self.by_name.get(name),
            GroupRef::Arn(arn) => self.by_arn(arn),
        }
    }

    /// The names of the groups `group`'s filter refers to; every one must exist.
    fn references_of(&self, group: &Group) -> Result<Vec<String>, GroupError> {
        let Some(text) = group.filter_expression.as_deref() else { return Ok(Vec::new()) };
        let mut references = Vec::new();
        collect_group_refs(&parse_filter(text)?, &mut references);
        references
            .iter()
            .map(|reference| match self.lookup(reference) {
                Some(target) => Ok(target.group_name.clone()),
                None => Err(GroupError::Invalid(format!(
                    "the filter expression of group {:?} refers to group {:?}, which does not exist",
                    group.group_name,
                    reference_text(reference)
                ))),
            })
            .collect()
    }

    fn groups_referring_to(&self, name: &str) -> Result<Vec<String>, GroupError> {
        let mut users = Vec::new();
        for group in self.by_name.values().filter(|group| group.group_name != name) {
            if self.references_of(group)?.iter().any(|target| target == name) {
                users.push(group.group_name.clone());
            }
        }
        Ok(users)
    }

    /// Every reference resolves, none loops, and no chain is longer than compilation inlines.
    fn check_references(&self) -> Result<(), GroupError> {
        let edges: BTreeMap<&str, Vec<String>> = self
            .by_name
            .values()
            .map(|group| Ok((group.group_name.as_str(), self.references_of(group)?)))
            .collect::<Result<_, GroupError>>()?;
        for start in edges.keys() {
            longest_chain(&edges, &mut vec![start.to_string()])?;
        }
        Ok(())
    }
}

fn default_group() -> Group {
    Group {
        group_name: DEFAULT_GROUP_NAME.to_owned(),
        group_arn: group_arn(DEFAULT_GROUP_NAME, None),
        filter_expression: None,
        insights_configuration: InsightsConfiguration::default(),
        tags: Vec::new(),
    }
}

/// The number of groups in the longest reference chain from the last group of `path`.
fn longest_chain(edges: &BTreeMap<&str, Vec<String>>, path: &mut Vec<String>) -> Result<usize, GroupError> {
    if path.len() > MAX_GROUP_DEPTH {
        return Err(GroupError::TooDeep(path[0].clone()));
    }
    let current = path.last().cloned().unwrap_or_default();
    let mut longest = 0;
    for target in edges.get(current.as_str()).into_iter().flatten() {
        if path.contains(target) {
            path.push(target.clone());
            let chain = path.iter().map(|name| format!("{name:?}")).collect::<Vec<_>>().join(" → ");
            return Err(GroupError::Cycle(chain));
        }
        path.push(target.clone());
        longest = longest.max(longest_chain(edges, path)?);
        path.pop();
    }
    Ok(longest + 1)
}

/// `group.*` conditions are only valid at the top level (`filter/keyword.rs`), under
/// `AND`, `OR` and `!`.
fn collect_group_refs(expr: &FilterExpr, references: &mut Vec<GroupRef>) {
    match expr {
        FilterExpr::Group(reference) => references.push(reference.clone()),
        FilterExpr::And(children) | FilterExpr::Or(children) => {
            children.iter().for_each(|child| collect_group_refs(child, references))
        }
        FilterExpr::Not(child) => collect_group_refs(child, references),
        _ => {}
    }
}

fn reference_text(reference: &GroupRef) -> &str {
    match reference {
        GroupRef::Name(text) | GroupRef::Arn(text) => text,
    }
}

impl InsightsConfiguration {
    fn updated(self, update: InsightsUpdate) -> Result<InsightsConfiguration, GroupError> {
        let updated = InsightsConfiguration {
            insights_enabled: update.insights_enabled.unwrap_or(self.insights_enabled),
            notifications_enabled: update.notifications_enabled.unwrap_or(self.notifications_enabled),
        };
        if updated.notifications_enabled && !updated.insights_enabled {
            return Err(GroupError::Invalid(
                "NotificationsEnabled can only be true when InsightsEnabled is true".to_owned(),
            ));
        }
        Ok(updated)
    }
}

fn check_name(name: &str) -> Result<(), GroupError> {
    if name == DEFAULT_GROUP_NAME {
        return Err(GroupError::Invalid("Default is a reserved group name".to_owned()));
    }
    let length = name.chars().count();
    if length == 0 || length > MAX_GROUP_NAME_CHARS {
        return Err(GroupError::Invalid(format!(
            "GroupName must be 1 to {MAX_GROUP_NAME_CHARS} characters, got {length}"
        )));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if let Some((index, character)) = name.chars().enumerate().find(|(_, c)| !allowed(*c)) {
        return Err(GroupError::Invalid(format!(
            "GroupName {name:?} has {character:?} at position {}; use letters, digits, '-', '_' and '.'",
            index + 1
        )));
    }
    Ok(())
}

fn check_selector_length(field: &str, value: &str, max: usize) -> Result<(), GroupError> {
    let length = value.chars().count();
    if length == 0 || length > max {
        return Err(GroupError::Invalid(format!("{field} must be 1 to {max} characters, got {length}")));
    }
    Ok(())
}

/// The filter to store: `None` for an empty one, the text as given when it parses and compiles
/// (an expression that parses but cannot be evaluated, such as a `rootcause.json` pattern with a
/// key root causes do not have, would fail every later question). References to other groups are checked on the whole set by
/// `check_references`, so here every group counts as holding every trace.
fn checked_filter(text: Option<&str>) -> Result<Option<String>, GroupError> {
    let Some(text) = text.filter(|text| !text.trim().is_empty()) else { return Ok(None) };
    let length = text.chars().count();
    if length > MAX_GROUP_FILTER_CHARS {
        return Err(GroupError::Invalid(format!(
            "FilterExpression must be at most {MAX_GROUP_FILTER_CHARS} characters, got {length}"
        )));
    }
    let any_group_holds_everything = |_: &GroupRef| Some(String::new());
    compile_filter(&parse_filter(text)?, &any_group_holds_everything)
        .map_err(|error| GroupError::Invalid(format!("FilterExpression cannot be evaluated: {error}")))?;
    Ok(Some(text.to_owned()))
}

/// X-Ray's tag rules: see the CreateGroup API reference.
fn checked_tags(tags: Vec<Tag>) -> Result<Vec<Tag>, GroupError> {
    let invalid = |message: String| Err(GroupError::Invalid(message));
    if tags.len() > MAX_GROUP_TAGS {
        return invalid(format!("a group has at most {MAX_GROUP_TAGS} tags, got {}", tags.len()));
    }
    let allowed = |c: char| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c);
    for (index, tag) in tags.iter().enumerate() {
        let (key_length, value_length) = (tag.key.chars().count(), tag.value.chars().count());
        if key_length == 0 || key_length > MAX_TAG_KEY_CHARS {
            return invalid(format!("Tags[{index}].Key must be 1 to {MAX_TAG_KEY_CHARS} characters, got {key_length}"));
        }
        if value_length > MAX_TAG_VALUE_CHARS {
            return invalid(format!("Tags[{index}].Value must be at most {MAX_TAG_VALUE_CHARS} characters"));
        }
        if let Some(character) = tag.key.chars().chain(tag.value.chars()).find(|c| !allowed(*c)) {
            return invalid(format!(
                "Tags[{index}] has {character:?}; use letters, digits, spaces and _ . : / = + - @"
            ));
        }
        if tag.key.to_ascii_lowercase().starts_with("aws:") {
            return invalid(format!("Tags[{index}].Key {:?}: the aws: prefix is reserved", tag.key));
        }
        if tags[..index].iter().any(|earlier| earlier.key == tag.key) {
            return invalid(format!("Tags[{index}].Key {:?} appears twice", tag.key));
        }
    }
    Ok(tags)
}

fn group_arn(name: &str, id: Option<&str>) -> String {
    let prefix = fluoro_proto::xray_arn(&format!("group/{name}"));
    id.map_or_else(|| prefix.clone(), |id| format!("{prefix}/{id}"))
}

/// 26 characters of base-32. Uniqueness is what matters, not secrecy: std's `RandomState`
/// keys are random per process, and the clock and a counter make ids differ within one.
fn random_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
    let half = |salt: u64| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u64(salt);
        hasher.finish()
    };
    let bits = (u128::from(half(0)) << 64) | u128::from(half(1));
    (0..26).map(|index| char::from(ALPHABET[((bits >> (index * 5)) & 31) as usize])).collect()
}

mod file;
#[cfg(test)]
mod tests;
