//! The canonical print of any well-formed tree parses back to the same tree, for trees that use
//! every keyword in every scope it is valid in.

use fluoro_analyzer::{
    parse_filter, Comparison, EdgeFilter, EqualityOp, FilterExpr, GroupRef, Keyword, NodeId, NodeSelector, NumberOp,
    RootCauseFilter, RootCauseKind, RootCauseList, ServiceFilter, StringOp, Test, ValueType,
};
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

#[derive(Debug, Clone, Copy)]
enum Scope {
    Trace,
    Service,
    Edge,
    RootCause(RootCauseKind, RootCauseList),
}

/// The spec's scopes, written out independently of the parser's table.
fn keywords_in(scope: Scope) -> Vec<Keyword> {
    use Keyword::*;
    let segment = vec![
        ResponseTime,
        HttpStatus,
        HttpUrl,
        HttpMethod,
        HttpUserAgent,
        HttpClientIp,
        User,
        AvailabilityZone,
        InstanceId,
        ResourceArn,
        Ok,
        Error,
        Fault,
        Throttle,
        Partial,
    ];
    match scope {
        Scope::Trace => [segment, vec![Duration, Inferred]].concat(),
        Scope::Service => [segment, vec![Inferred, Root, Name, Type]].concat(),
        Scope::Edge => segment,
        Scope::RootCause(cause, list) => {
            let mut keywords = vec![First, Last, Index, Name];
            match list {
                RootCauseList::Service => keywords.extend([Type, Inferred]),
                RootCauseList::Entity => keywords.push(Remote),
                RootCauseList::Exception => keywords.push(Message),
            }
            if matches!(cause, RootCauseKind::ResponseTime) && !matches!(list, RootCauseList::Exception) {
                keywords.push(Coverage);
            }
            keywords
        }
    }
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![(-1000i32..100_000).prop_map(f64::from), any::<f64>().prop_filter("finite", |v| v.is_finite())]
}

fn number_op() -> impl Strategy<Value = NumberOp> {
    prop::sample::select(vec![NumberOp::Eq, NumberOp::Ne, NumberOp::Lt, NumberOp::Le, NumberOp::Gt, NumberOp::Ge])
}

fn string_op() -> impl Strategy<Value = StringOp> {
    prop::sample::select(vec![StringOp::Eq, StringOp::Ne, StringOp::Contains, StringOp::BeginsWith, StringOp::EndsWith])
}

fn equality_op() -> impl Strategy<Value = EqualityOp> {
    prop::sample::select(vec![EqualityOp::Eq, EqualityOp::Ne])
}

fn test_for(value_type: Option<ValueType>) -> BoxedStrategy<Test> {
    let number = (number_op(), number()).prop_map(|(op, v)| Test::Number(op, v));
    let text = (string_op(), any::<String>()).prop_map(|(op, v)| Test::Text(op, v));
    let boolean = (equality_op(), any::<bool>()).prop_map(|(op, v)| Test::Bool(op, v));
    match value_type {
        Some(ValueType::Number) => number.boxed(),
        Some(ValueType::String) => prop_oneof![Just(Test::Exists), text].boxed(),
        Some(ValueType::Boolean) => boolean.boxed(),
        None => prop_oneof![Just(Test::Exists), number, text, boolean].boxed(),
    }
}

fn comparison(scope: Scope) -> BoxedStrategy<FilterExpr> {
    let mut keywords = keywords_in(scope);
    let annotation_key = prop_oneof!["[A-Za-z0-9_]{1,8}", ".+"];
    let simple = prop::sample::select(std::mem::take(&mut keywords))
        .prop_flat_map(|keyword| test_for(keyword.value_type()).prop_map(move |test| (keyword.clone(), test)));
    let compare = |(keyword, test)| FilterExpr::Compare(Comparison { keyword, test });
    if !matches!(scope, Scope::Trace) {
        return simple.prop_map(compare).boxed();
    }
    let annotation = annotation_key
        .prop_flat_map(|key| test_for(None).prop_map(move |test| (Keyword::Annotation(key.clone()), test)));
    prop_oneof![3 => simple.prop_map(compare), 1 => annotation.prop_map(compare)].boxed()
}

fn node_id() -> impl Strategy<Value = NodeId> {
    (proptest::option::of(any::<String>()), proptest::option::of("AWS::[A-Za-z]{1,8}::[A-Za-z]{1,8}"))
        .prop_filter("one part at least", |(name, node_type)| name.is_some() || node_type.is_some())
        .prop_map(|(name, node_type)| NodeId { name, node_type })
}

fn node() -> impl Strategy<Value = NodeSelector> {
    prop_oneof![any::<String>().prop_map(NodeSelector::Name), node_id().prop_map(NodeSelector::Id)]
}

fn braces(scope: Scope) -> impl Strategy<Value = Option<Box<FilterExpr>>> {
    proptest::option::of(expr(scope, 2).prop_map(Box::new))
}

fn root_cause() -> impl Strategy<Value = FilterExpr> {
    let causes = vec![RootCauseKind::Fault, RootCauseKind::Error, RootCauseKind::ResponseTime];
    let lists = vec![RootCauseList::Service, RootCauseList::Entity, RootCauseList::Exception];
    (prop::sample::select(causes), prop::sample::select(lists))
        .prop_filter("response-time causes have no exceptions", |(cause, list)| {
            !matches!((cause, list), (RootCauseKind::ResponseTime, RootCauseList::Exception))
        })
        .prop_flat_map(|(cause, list)| {
            braces(Scope::RootCause(cause, list))
                .prop_map(move |filter| FilterExpr::RootCause(RootCauseFilter { cause, list, filter }))
        })
}

fn complex() -> BoxedStrategy<FilterExpr> {
    prop_oneof![
        (proptest::option::of(node()), braces(Scope::Service))
            .prop_map(|(node, filter)| FilterExpr::Service(ServiceFilter { node, filter })),
        (node(), node(), braces(Scope::Edge)).prop_map(|(source, destination, filter)| FilterExpr::Edge(EdgeFilter {
            source,
            destination,
            filter
        })),
        node_id().prop_map(FilterExpr::Node),
        any::<String>().prop_map(|name| FilterExpr::Group(GroupRef::Name(name))),
        any::<String>().prop_map(|arn| FilterExpr::Group(GroupRef::Arn(arn))),
        root_cause(),
        prop::collection::vec(any::<String>(), 0..3).prop_map(|names| {
            let services: Vec<_> = names.iter().map(|name| serde_json::json!({ "Name": name })).collect();
            FilterExpr::RootCauseJson(serde_json::json!([{ "Services": services }]))
        }),
    ]
    .boxed()
}

fn expr(scope: Scope, depth: u32) -> BoxedStrategy<FilterExpr> {
    let leaf = match scope {
        Scope::Trace => prop_oneof![3 => comparison(scope), 1 => complex()].boxed(),
        _ => comparison(scope),
    };
    leaf.prop_recursive(depth, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(FilterExpr::and),
            prop::collection::vec(inner.clone(), 2..4).prop_map(FilterExpr::or),
            inner.prop_map(|e| FilterExpr::Not(Box::new(e))),
        ]
    })
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn print_parses_back_to_the_same_tree(tree in expr(Scope::Trace, 4)) {
        let printed = tree.to_string();
        prop_assert_eq!(parse_filter(&printed), Ok(tree), "printed: {}", printed);
    }
}
