//! The canonical print of a filter expression: lower-case keywords, upper-case `AND`/`OR` and
//! operator words, `!` for negation, every string quoted, parentheses only where precedence
//! needs them. Parsing the print gives back the same tree.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::{
    Comparison, EqualityOp, FilterExpr, GroupRef, Keyword, NodeId, NodeSelector, NumberOp, StringOp, Test,
};
use super::keyword::{cause_name, list_name};

impl Display for FilterExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FilterExpr::Or(alternatives) => join(f, alternatives, " OR ", |child| matches!(child, FilterExpr::Or(_))),
            FilterExpr::And(conditions) => {
                join(f, conditions, " AND ", |child| matches!(child, FilterExpr::Or(_) | FilterExpr::And(_)))
            }
            FilterExpr::Not(inner) => {
                f.write_char('!')?;
                parenthesized(f, inner, matches!(**inner, FilterExpr::Or(_) | FilterExpr::And(_)))
            }
            FilterExpr::Compare(comparison) => comparison.fmt(f),
            FilterExpr::Service(service) => {
                f.write_str("service(")?;
                if let Some(node) = &service.node {
                    node.fmt(f)?;
                }
                f.write_char(')')?;
                braces(f, service.filter.as_deref())
            }
            FilterExpr::Edge(edge) => {
                write!(f, "edge({}, {})", edge.source, edge.destination)?;
                braces(f, edge.filter.as_deref())
            }
            FilterExpr::Node(id) => id.fmt(f),
            FilterExpr::Group(GroupRef::Name(name)) => write!(f, "group.name = {}", Quoted(name)),
            FilterExpr::Group(GroupRef::Arn(arn)) => write!(f, "group.arn = {}", Quoted(arn)),
            FilterExpr::RootCause(root_cause) => {
                write!(f, "rootcause.{}.{}", cause_name(root_cause.cause), list_name(root_cause.list))?;
                braces(f, root_cause.filter.as_deref())
            }
            FilterExpr::RootCauseJson(json) => write!(f, "rootcause.json = #{json}"),
        }
    }
}

fn join(
    f: &mut Formatter<'_>,
    children: &[FilterExpr],
    separator: &str,
    needs_parentheses: fn(&FilterExpr) -> bool,
) -> fmt::Result {
    for (index, child) in children.iter().enumerate() {
        if index > 0 {
            f.write_str(separator)?;
        }
        parenthesized(f, child, needs_parentheses(child))?;
    }
    Ok(())
}

fn parenthesized(f: &mut Formatter<'_>, expr: &FilterExpr, needed: bool) -> fmt::Result {
    if needed {
        write!(f, "({expr})")
    } else {
        expr.fmt(f)
    }
}

fn braces(f: &mut Formatter<'_>, filter: Option<&FilterExpr>) -> fmt::Result {
    match filter {
        Some(filter) => write!(f, " {{ {filter} }}"),
        None => Ok(()),
    }
}

impl Display for Comparison {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.keyword.fmt(f)?;
        let is_annotation = matches!(self.keyword, Keyword::Annotation(_));
        match &self.test {
            Test::Exists => Ok(()),
            Test::Bool(EqualityOp::Eq, true) if !is_annotation => Ok(()),
            Test::Bool(op, value) => write!(f, " {} {value}", if *op == EqualityOp::Eq { "=" } else { "!=" }),
            Test::Number(op, value) => write!(f, " {op} {value}"),
            Test::Text(op, value) => write!(f, " {op} {}", Quoted(value)),
        }
    }
}

impl Display for Keyword {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Keyword::Annotation(key) if is_plain_key(key) => write!(f, "annotation.{key}"),
            Keyword::Annotation(key) => write!(f, "annotation[{}]", Quoted(key)),
            other => f.write_str(other.name()),
        }
    }
}

/// Keys that read back unchanged after `annotation.`; others use the bracket form.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Display for NumberOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl Display for StringOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StringOp::Eq => "=",
            StringOp::Ne => "!=",
            StringOp::Contains => "CONTAINS",
            StringOp::BeginsWith => "BEGINSWITH",
            StringOp::EndsWith => "ENDSWITH",
        })
    }
}

impl Display for NodeSelector {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            NodeSelector::Name(name) => Quoted(name).fmt(f),
            NodeSelector::Id(id) => id.fmt(f),
        }
    }
}

impl Display for NodeId {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("id(")?;
        if let Some(name) = &self.name {
            write!(f, "name: {}", Quoted(name))?;
        }
        if let Some(node_type) = &self.node_type {
            let separator = if self.name.is_some() { ", " } else { "" };
            write!(f, "{separator}type: {}", Quoted(node_type))?;
        }
        f.write_char(')')
    }
}

/// A string value in double quotes, with `"` and `\` escaped.
struct Quoted<'a>(&'a str);

impl Display for Quoted<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            if matches!(c, '"' | '\\') {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        f.write_char('"')
    }
}
