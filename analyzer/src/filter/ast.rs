//! The typed tree a filter expression parses into, shaped for compilation to columnar
//! expressions: keywords are resolved to enums, every comparison carries an operator that is
//! valid for its keyword's type and a typed value, and complex keywords carry their
//! sub-expressions. The parser guarantees these invariants; code that builds trees by hand should
//! keep them too, or `parse(print(tree)) == tree` no longer holds:
//!
//! - `And`/`Or` hold at least two children and never a child of their own kind (nested groups are
//!   flattened: `(a AND b) AND c` is `And([a, b, c])`).
//! - A [`Comparison`]'s [`Test`] matches [`Keyword::value_type`]: `Bool` for booleans, `Number`
//!   for numbers, `Text` or `Exists` for strings, anything for annotations.
//! - Sub-expressions only use keywords valid in their scope (e.g. `coverage` only under
//!   `rootcause.responsetime.*`); see `filter/keyword.rs`.

/// A parsed filter expression (spec section 3).
#[derive(Debug, Clone, PartialEq)]
pub enum FilterExpr {
    /// At least two alternatives, none of them itself an `Or`.
    Or(Vec<FilterExpr>),
    /// At least two conditions (written with `AND` or side by side), none of them itself an `And`.
    And(Vec<FilterExpr>),
    /// `!x` or `NOT x`.
    Not(Box<FilterExpr>),
    /// A keyword alone or compared with a value: `fault`, `responsetime > 5`, `annotation.age`.
    Compare(Comparison),
    /// `service(NAME) {FILTER}`: the trace passes through a node, optionally with matching segments.
    Service(ServiceFilter),
    /// `edge(SOURCE, DEST) {FILTER}`: the trace has a call on that connection.
    Edge(EdgeFilter),
    /// `id(name: .., type: ..)` on its own: a node selector, as in
    /// GetTimeSeriesServiceStatistics' EntitySelectorExpression; matches like `service(id(..))`.
    Node(NodeId),
    /// `group.name = "G"` / `group.arn = "arn:.."`: the filter expression of an existing group.
    Group(GroupRef),
    /// `rootcause.{fault|error|responsetime}.{service|entity|exception} {FILTER}`.
    RootCause(RootCauseFilter),
    /// `rootcause.json = #[...]`: the root-cause structure compared with a JSON array.
    RootCauseJson(serde_json::Value),
}

/// A keyword that compares a value, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub keyword: Keyword,
    pub test: Test,
}

/// Every keyword that takes a value (spec 3.2–3.5). Complex keywords that carry
/// sub-expressions (`service`, `edge`, `id`, `group.*`, `rootcause.*`) are [`FilterExpr`] variants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Keyword {
    // Numbers.
    ResponseTime,
    Duration,
    HttpStatus,
    Index,
    Coverage,
    // Strings.
    HttpUrl,
    HttpMethod,
    HttpUserAgent,
    HttpClientIp,
    User,
    Name,
    Type,
    Message,
    AvailabilityZone,
    InstanceId,
    ResourceArn,
    // Booleans.
    Ok,
    Error,
    Fault,
    Throttle,
    Partial,
    Inferred,
    First,
    Last,
    Remote,
    Root,
    /// `annotation.KEY` or `annotation[KEY]`; the key is case-sensitive. Its type is the type of
    /// the value it is compared with.
    Annotation(String),
}

/// The type of a keyword's values, which decides the operators it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    Number,
    String,
    Boolean,
}

/// What a comparison checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// A string keyword or an annotation alone: the field is set.
    Exists,
    /// `fault` (= `Bool(Eq, true)`), `ok = false`, `annotation.vip != true`.
    Bool(EqualityOp, bool),
    Number(NumberOp, f64),
    /// The value is case-sensitive.
    Text(StringOp, String),
}

/// `=` or `!=`, the operators of booleans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EqualityOp {
    Eq,
    Ne,
}

/// The operators of numbers; also every symbolic operator the lexer reads (the others,
/// `CONTAINS`…, are words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl NumberOp {
    /// The operator as written.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            NumberOp::Eq => "=",
            NumberOp::Ne => "!=",
            NumberOp::Lt => "<",
            NumberOp::Le => "<=",
            NumberOp::Gt => ">",
            NumberOp::Ge => ">=",
        }
    }
}

/// The operators of strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StringOp {
    Eq,
    Ne,
    Contains,
    BeginsWith,
    EndsWith,
}

/// `service(NAME) {FILTER}`; `service()` (no name) is any node.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFilter {
    pub node: Option<NodeSelector>,
    /// Evaluated per segment of the node; true if any segment matches.
    pub filter: Option<Box<FilterExpr>>,
}

/// `edge(SOURCE, DEST) {FILTER}`.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeFilter {
    pub source: NodeSelector,
    pub destination: NodeSelector,
    /// Evaluated per call on the edge.
    pub filter: Option<Box<FilterExpr>>,
}

/// How `service()` and `edge()` name a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeSelector {
    /// Matches nodes of any type with this name.
    Name(String),
    Id(NodeId),
}

/// `id(name: "x", type: "AWS::Lambda::Function")`; at least one part is set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId {
    pub name: Option<String>,
    pub node_type: Option<String>,
}

/// `group.name = ..` or `group.arn = ..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupRef {
    Name(String),
    Arn(String),
}

/// `rootcause.CAUSE.LIST {FILTER}`: some element of the list matches the filter.
#[derive(Debug, Clone, PartialEq)]
pub struct RootCauseFilter {
    pub cause: RootCauseKind,
    pub list: RootCauseList,
    /// Without braces: the list has at least one element.
    pub filter: Option<Box<FilterExpr>>,
}

/// Which of TraceSummary's root-cause lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RootCauseKind {
    /// FaultRootCauses.
    Fault,
    /// ErrorRootCauses.
    Error,
    /// ResponseTimeRootCauses; they have no exceptions.
    ResponseTime,
}

/// Which level of a root cause the braces iterate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RootCauseList {
    /// RootCause.Services.
    Service,
    /// Service.EntityPath.
    Entity,
    /// Entity.Exceptions.
    Exception,
}

impl FilterExpr {
    /// `a AND b AND ..`, flattening nested `And`s; a single condition stays as it is.
    pub fn and(children: Vec<FilterExpr>) -> FilterExpr {
        Self::flatten(children, FilterExpr::And, |child| match child {
            FilterExpr::And(grandchildren) => Ok(grandchildren),
            other => Err(other),
        })
    }

    /// `a OR b OR ..`, flattening nested `Or`s; a single alternative stays as it is.
    pub fn or(children: Vec<FilterExpr>) -> FilterExpr {
        Self::flatten(children, FilterExpr::Or, |child| match child {
            FilterExpr::Or(grandchildren) => Ok(grandchildren),
            other => Err(other),
        })
    }

    fn flatten(
        children: Vec<FilterExpr>,
        build: fn(Vec<FilterExpr>) -> FilterExpr,
        split: fn(FilterExpr) -> Result<Vec<FilterExpr>, FilterExpr>,
    ) -> FilterExpr {
        let mut flat = Vec::with_capacity(children.len());
        for child in children {
            match split(child) {
                Ok(grandchildren) => flat.extend(grandchildren),
                Err(leaf) => flat.push(leaf),
            }
        }
        if flat.len() == 1 {
            if let Some(only) = flat.pop() {
                return only;
            }
        }
        build(flat)
    }
}

impl Keyword {
    /// The keyword's value type; `None` for annotations, whose type is their value's.
    pub fn value_type(&self) -> Option<ValueType> {
        use Keyword::*;
        match self {
            ResponseTime | Duration | HttpStatus | Index | Coverage => Some(ValueType::Number),
            HttpUrl | HttpMethod | HttpUserAgent | HttpClientIp | User | Name | Type | Message | AvailabilityZone
            | InstanceId | ResourceArn => Some(ValueType::String),
            Ok | Error | Fault | Throttle | Partial | Inferred | First | Last | Remote | Root => {
                Some(ValueType::Boolean)
            }
            Annotation(_) => None,
        }
    }
}

impl ValueType {
    /// `a number`, `a string`, `a boolean`, as error messages say it.
    pub fn described(self) -> &'static str {
        match self {
            ValueType::Number => "a number",
            ValueType::String => "a string",
            ValueType::Boolean => "a boolean",
        }
    }
}
