use super::*;

fn new_group(name: &str, filter: &str) -> NewGroup {
    NewGroup { name: name.to_owned(), filter_expression: Some(filter.to_owned()), ..NewGroup::default() }
}

fn by_name(name: &str) -> GroupSelector<'_> {
    GroupSelector { name: Some(name), arn: None }
}

fn refusal(result: Result<Group, GroupError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn default_always_exists_holds_every_trace_and_cannot_be_removed_or_filtered() {
    let groups = Groups::in_memory();
    let default = groups.get(by_name("Default")).unwrap();
    assert_eq!(default.group_arn, "arn:aws:xray:local:000000000000:group/Default");
    assert_eq!(default.filter_expression, None);
    assert_eq!(groups.group_filter(&GroupRef::Name("Default".to_owned())), Some(String::new()));
    assert_eq!(refusal(groups.delete(by_name("Default"))), "the Default group cannot be deleted");
    assert_eq!(refusal(groups.create(new_group("Default", "fault"))), "Default is a reserved group name");
    let filter = GroupUpdate { filter_expression: Some("fault".to_owned()), insights: None };
    assert!(refusal(groups.update(by_name("Default"), filter)).contains("its FilterExpression cannot be set"));
    let insights = InsightsUpdate { insights_enabled: Some(true), notifications_enabled: None };
    let updated = groups.update(by_name("Default"), GroupUpdate { filter_expression: None, insights: Some(insights) });
    assert!(updated.unwrap().insights_configuration.insights_enabled);
}

#[test]
fn groups_are_created_found_by_name_or_arn_updated_and_deleted() {
    let groups = Groups::in_memory();
    let created = groups.create(new_group("slow", "responsetime > 5")).unwrap();
    assert!(created.group_arn.starts_with("arn:aws:xray:local:000000000000:group/slow/"), "{}", created.group_arn);
    assert_eq!(created.group_arn.len(), "arn:aws:xray:local:000000000000:group/slow/".len() + 26);
    let by_arn = GroupSelector { name: None, arn: Some(&created.group_arn) };
    assert_eq!(groups.get(by_arn).unwrap(), created);
    let both = GroupSelector { name: Some("Default"), arn: Some(&created.group_arn) };
    assert!(groups.get(both).unwrap_err().to_string().contains("name different groups"));

    let update = GroupUpdate { filter_expression: Some("responsetime > 9".to_owned()), insights: None };
    let updated = groups.update(by_name("slow"), update).unwrap();
    assert_eq!(updated.filter_expression.as_deref(), Some("responsetime > 9"));
    assert_eq!(updated.group_arn, created.group_arn, "an update keeps the ARN");
    assert_eq!(groups.list().iter().map(|group| group.group_name.as_str()).collect::<Vec<_>>(), ["Default", "slow"]);

    assert_eq!(groups.delete(by_arn).unwrap().filter_expression.as_deref(), Some("responsetime > 9"));
    assert_eq!(refusal(groups.get(by_name("slow"))), "group \"slow\" does not exist");
    let again = groups.create(new_group("slow", "fault")).unwrap();
    assert_ne!(again.group_arn, created.group_arn, "a new group under an old name gets a new ARN");
}

#[test]
fn names_tags_insights_and_filters_are_checked() {
    let groups = Groups::in_memory();
    assert!(refusal(groups.create(new_group("", "fault"))).contains("1 to 32 characters, got 0"));
    assert!(refusal(groups.create(new_group(&"x".repeat(33), "fault"))).contains("got 33"));
    assert!(refusal(groups.create(new_group("a/b", "fault"))).contains("'/' at position 2"));
    assert_eq!(
        refusal(groups.create(new_group("bad", "responsetime > \"x\""))),
        "expected a number after > at column 16",
        "the parser's own message, column included"
    );
    let long = format!("fault OR {}", "fault OR ".repeat(MAX_GROUP_FILTER_CHARS / 9) + "fault");
    assert!(refusal(groups.create(new_group("long", &long))).contains("at most 4096 characters"));
    let notifications = InsightsUpdate { insights_enabled: None, notifications_enabled: Some(true) };
    let quiet = NewGroup { insights: notifications, ..new_group("quiet", "fault") };
    assert!(refusal(groups.create(quiet)).contains("only be true when InsightsEnabled"));
    let tag = |key: &str, value: &str| Tag { key: key.to_owned(), value: value.to_owned() };
    let tagged = |tags: Vec<Tag>| groups.create(NewGroup { tags, ..new_group("tagged", "fault") });
    assert!(refusal(tagged(vec![tag("aws:owner", "x")])).contains("reserved"));
    assert!(refusal(tagged(vec![tag("team", "a"), tag("team", "b")])).contains("appears twice"));
    assert!(refusal(tagged(vec![tag("", "a")])).contains("Tags[0].Key must be 1 to 128"));
    assert!(refusal(tagged((0..51).map(|i| tag(&format!("k{i}"), "v")).collect())).contains("at most 50 tags"));
    assert_eq!(tagged(vec![tag("team", "checkout")]).unwrap().tags, vec![tag("team", "checkout")]);
    assert!(refusal(groups.create(new_group("tagged", "fault"))).contains("already exists"));
    assert_eq!(
        refusal(groups.create(new_group("json", "rootcause.json = #[{\"Service\": []}]"))),
        "FilterExpression cannot be evaluated: rootcause.json: [0] has the key \"Service\", which a root cause does \
         not have; use Services, ClientImpacting (spelled as GetTraceSummaries returns them)"
    );
    assert!(groups.create(new_group("json", "rootcause.json = #[{\"Services\": [{\"Name\": \"web\"}]}]")).is_ok());
    let empty = groups.create(new_group("everything", "  ")).unwrap();
    assert_eq!(empty.filter_expression, None, "an empty filter holds every trace");
}

#[test]
fn references_must_exist_and_neither_loop_nor_nest_too_deep() {
    let groups = Groups::in_memory();
    assert_eq!(
        refusal(groups.create(new_group("a", "group.name = \"missing\""))),
        "the filter expression of group \"a\" refers to group \"missing\", which does not exist"
    );
    groups.create(new_group("b", "fault")).unwrap();
    let a = groups.create(new_group("a", "group.name = \"b\" AND responsetime > 1")).unwrap();
    assert_eq!(groups.group_filter(&GroupRef::Arn(a.group_arn.clone())).as_deref(), a.filter_expression.as_deref());
    let to_a = GroupUpdate { filter_expression: Some("!group.name = \"a\"".to_owned()), insights: None };
    assert_eq!(
        refusal(groups.update(by_name("b"), to_a)),
        "group filter expressions refer to each other in a loop: \"a\" → \"b\" → \"a\""
    );
    let own_arn = format!("group.arn = \"{}\"", a.group_arn);
    let to_self = GroupUpdate { filter_expression: Some(own_arn), insights: None };
    assert!(refusal(groups.update(by_name("a"), to_self)).contains("\"a\" → \"a\""));
    assert!(refusal(groups.delete(by_name("b"))).contains("used by the filter expression of group \"a\""));

    // a → b → c → d is as deep as compilation inlines; e on top is one too many.
    groups.create(new_group("d", "fault")).unwrap();
    groups.create(new_group("c", "group.name = \"d\"")).unwrap();
    let to_c = GroupUpdate { filter_expression: Some("group.name = \"c\"".to_owned()), insights: None };
    groups.update(by_name("b"), to_c).unwrap();
    assert_eq!(
        refusal(groups.create(new_group("e", "group.name = \"a\""))),
        "group \"e\" nests group references more than 4 deep"
    );
    assert_eq!(groups.list().len(), 5, "a refused change changes nothing");
}

#[test]
fn the_number_of_groups_is_bounded() {
    let groups = Groups::in_memory();
    for index in 0..MAX_GROUPS {
        groups.create(new_group(&format!("g{index:02}"), "fault")).unwrap();
    }
    assert_eq!(
        refusal(groups.create(new_group("one-more", "fault"))),
        "cannot create more than 25 groups besides Default"
    );
}

#[test]
fn pages_follow_name_order_after_the_last_name_seen() {
    let groups = Groups::in_memory();
    for name in ["c", "a", "b"] {
        groups.create(new_group(name, "fault")).unwrap();
    }
    let names = |page: &GroupPage| page.groups.iter().map(|group| group.group_name.clone()).collect::<Vec<_>>();
    let first = groups.page(None, 2);
    assert_eq!((names(&first), first.more), (vec!["Default".to_owned(), "a".to_owned()], true));
    let second = groups.page(Some("a"), 2);
    assert_eq!((names(&second), second.more), (vec!["b".to_owned(), "c".to_owned()], false));
}

#[test]
fn groups_survive_reopening_and_bad_files_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/groups.json");
    let groups = Groups::open(&path).unwrap();
    let tags = vec![Tag { key: "team".to_owned(), value: "checkout".to_owned() }];
    let insights = InsightsUpdate { insights_enabled: Some(true), notifications_enabled: Some(true) };
    let created = groups.create(NewGroup { insights, tags, ..new_group("slow", "responsetime > 5") }).unwrap();
    drop(groups);
    let reopened = Groups::open(&path).unwrap();
    assert_eq!(reopened.get(by_name("slow")).unwrap(), created);
    assert!(!dir.path().join("nested/groups.json.tmp").exists());

    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("responsetime > 5", "responsetime >")).unwrap();
    let error = Groups::open(&path).unwrap_err().to_string();
    assert!(error.contains("group \"slow\": expected a number after > at column 15"), "{error}");
    fs::write(&path, r#"{"version": 2, "groups": []}"#).unwrap();
    assert!(Groups::open(&path).unwrap_err().to_string().contains("expected version 1, got 2"));
    fs::write(&path, r#"{"version": 1, "groups": []}"#).unwrap();
    assert_eq!(Groups::open(&path).unwrap().list().len(), 1, "Default needs no entry in the file");
}
