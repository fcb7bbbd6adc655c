//! A group's filter scopes the service graph, the time series and trace searches: the pet store
//! (see `petstore.rs`) with a group of the traces that never reach payforadoption (the odd ones).

use fluoro_analyzer::{
    parse_filter, service_graph, time_series_statistics, trace_summaries, EntitySelector, GroupSelector, Groups,
    NewGroup, SummaryQuery, TimeRangeType, MAX_PAGE_SIZE,
};

use crate::petstore::{self, at_us, TRACES};

const ECS: &str = "AWS::ECS::Container";

fn groups() -> Groups {
    let groups = Groups::in_memory();
    let browsing = NewGroup {
        name: "browsing".to_owned(),
        filter_expression: Some("!service(\"payforadoption\")".to_owned()),
        ..NewGroup::default()
    };
    groups.create(browsing).unwrap();
    groups
}

fn selector(name: &str) -> GroupSelector<'_> {
    GroupSelector { name: Some(name), arn: None }
}

#[test]
fn the_graph_of_a_group_holds_only_the_services_of_its_traces() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::petstore(dir.path());
    let groups = groups();
    let (from, to) = (at_us(-1.0), at_us(1000.0));
    let browsing = groups.get(selector("browsing")).unwrap();
    let traces = groups.traces(&store, &browsing, from, to).unwrap().expect("a filtered group restricts");
    assert_eq!(traces.len(), TRACES / 2);
    let graph = service_graph(&store, from, to, Some(&traces)).unwrap();
    let mut names: Vec<&str> = graph.services.iter().map(|node| node.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["DynamoDB", "petsearch", "petsite", "petsite"]);
    let calls = graph.edge(("petsite", "AWS::EC2::Instance"), ("petsearch", ECS)).unwrap();
    assert_eq!(calls.summary_statistics.total_count, (TRACES / 2) as u64);

    let default = groups.get(selector("Default")).unwrap();
    assert!(groups.traces(&store, &default, from, to).unwrap().is_none(), "Default holds every trace");

    let all_edges = time_series_statistics(&store, from, to, &EntitySelector::AllEdges, 300, Some(&traces)).unwrap();
    let total: u64 =
        all_edges.iter().filter_map(|point| point.edge_summary_statistics.as_ref()).map(|s| s.total_count).sum();
    // Per odd trace: client → petsite, petsite → petsearch, petsearch → DynamoDB.
    assert_eq!(total, 3 * (TRACES / 2) as u64);
}

#[test]
fn group_name_in_a_filter_expression_inlines_the_group_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::petstore(dir.path());
    let groups = groups();
    let count = |expression: &str| {
        let query = SummaryQuery {
            from_us: at_us(-1.0),
            to_us: at_us(1000.0),
            range: TimeRangeType::TraceId,
            filter: Some(parse_filter(expression).unwrap()),
            sampling: None,
            offset: 0,
            page_size: MAX_PAGE_SIZE,
        };
        trace_summaries(&store, &query, &groups).map(|page| page.summaries.len()).map_err(|error| error.to_string())
    };
    assert_eq!(count("group.name = \"browsing\""), Ok(TRACES / 2));
    assert_eq!(count("!group.name = \"browsing\""), Ok(TRACES / 2));
    // Trace 19, the only root fault, is odd.
    assert_eq!(count("group.name = \"browsing\" AND fault"), Ok(1));
    assert_eq!(count("group.name = \"Default\""), Ok(TRACES));
    let arn = groups.get(selector("browsing")).unwrap().group_arn;
    assert_eq!(count(&format!("group.arn = \"{arn}\"")), Ok(TRACES / 2));
    assert_eq!(count("group.name = \"nope\""), Err("group \"nope\" does not exist".to_owned()));
}
