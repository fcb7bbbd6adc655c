//! Expressions become the typed tree the evaluation step compiles: keywords resolved to enums,
//! typed operators and values, complex keywords holding their sub-expressions.

use fluoro_analyzer::{
    parse_filter, Comparison, EdgeFilter, EqualityOp, FilterExpr, Keyword, NodeId, NodeSelector, NumberOp,
    RootCauseFilter, RootCauseKind, RootCauseList, StringOp, Test,
};

fn compare(keyword: Keyword, test: Test) -> FilterExpr {
    FilterExpr::Compare(Comparison { keyword, test })
}

#[test]
fn implicit_and_with_negation() {
    let expected = FilterExpr::And(vec![
        compare(Keyword::Ok, Test::Bool(EqualityOp::Eq, true)),
        FilterExpr::Not(Box::new(compare(Keyword::Partial, Test::Bool(EqualityOp::Eq, true)))),
        compare(Keyword::Duration, Test::Number(NumberOp::Lt, 3.0)),
    ]);
    assert_eq!(parse_filter("ok !partial duration < 3"), Ok(expected));
}

#[test]
fn edge_with_ids_carries_its_filter() {
    let expected = FilterExpr::Edge(EdgeFilter {
        source: NodeSelector::Id(NodeId { name: Some("a".into()), node_type: Some("AWS::EC2::Instance".into()) }),
        destination: NodeSelector::Name("b".into()),
        filter: Some(Box::new(compare(Keyword::ResponseTime, Test::Number(NumberOp::Gt, 1.0)))),
    });
    assert_eq!(
        parse_filter(r#"edge(id(name: "a", type: "AWS::EC2::Instance"), "b") { responsetime > 1 }"#),
        Ok(expected)
    );
}

#[test]
fn annotation_values_keep_their_type_and_key_case() {
    let key = || Keyword::Annotation("Tier".into());
    assert_eq!(parse_filter("annotation.Tier = 2"), Ok(compare(key(), Test::Number(NumberOp::Eq, 2.0))));
    assert_eq!(
        parse_filter("annotation[Tier] = \"gold\""),
        Ok(compare(key(), Test::Text(StringOp::Eq, "gold".into())))
    );
    assert_eq!(parse_filter("ANNOTATION.Tier != true"), Ok(compare(key(), Test::Bool(EqualityOp::Ne, true))));
    assert_eq!(parse_filter("annotation.Tier"), Ok(compare(key(), Test::Exists)));
}

#[test]
fn rootcause_lists_resolve_cause_and_level() {
    let expected = FilterExpr::RootCause(RootCauseFilter {
        cause: RootCauseKind::ResponseTime,
        list: RootCauseList::Entity,
        filter: Some(Box::new(FilterExpr::And(vec![
            compare(Keyword::Remote, Test::Bool(EqualityOp::Eq, true)),
            compare(Keyword::Coverage, Test::Number(NumberOp::Gt, 0.7)),
        ]))),
    });
    assert_eq!(parse_filter("rootcause.responsetime.entity { remote and coverage > 0.7 }"), Ok(expected));
}

#[test]
fn errors_report_their_column() {
    let error = parse_filter("fault AND http.url > 3").unwrap_err();
    assert_eq!(error.column(), 20);
}
