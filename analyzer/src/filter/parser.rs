//! Recursive descent over the grammar of spec 3.6:
//!
//! ```text
//! expr    := and ( OR and )*
//! and     := unary ( [AND] unary )*          ; side by side = AND
//! unary   := ("!" | NOT) unary | "(" expr ")" | primary
//! primary := keyword [ op value ] | service | edge | id | group | rootcause | rootcause.json
//! ```
//!
//! Keyword scope and operator types are checked while parsing, so every error points at the
//! token at fault. Nesting is bounded by [`MAX_DEPTH`] so hostile input cannot overflow the stack.

use super::ast::{
    Comparison, EdgeFilter, EqualityOp, FilterExpr, GroupRef, Keyword, NodeId, NodeSelector, NumberOp, RootCauseFilter,
    RootCauseKind, RootCauseList, ServiceFilter, StringOp, Test, ValueType,
};
use super::keyword::{suggestion, Scope};
use super::lexer::{Lexer, Token, TokenKind};
use crate::error::{FilterError, FilterResult as Result};

/// Levels of `!`, `NOT`, `()` and `{}` an expression may nest.
pub const MAX_DEPTH: usize = 64;

/// Words that are never keywords nor bare string values.
const RESERVED: &[&str] = &["and", "or", "not", "contains", "beginswith", "endswith", "true", "false"];

const NUMBER_OPERATORS: &str = "=, !=, <, <=, > or >=";
const STRING_OPERATORS: &str = "=, !=, CONTAINS, BEGINSWITH or ENDSWITH";
const BOOLEAN_OPERATORS: &str = "the keyword alone, or = or != with true or false";

/// Parses a filter expression (spec section 3) into a typed tree.
pub fn parse_filter(text: &str) -> Result<FilterExpr> {
    let mut parser = Parser { lexer: Lexer::new(text), peeked: None, depth: 0 };
    if parser.peek()?.kind == TokenKind::End {
        return Err(FilterError::Empty { column: 1 });
    }
    let expr = parser.expression(Scope::Trace)?;
    let next = parser.next()?;
    let (open, close) = match next.kind {
        TokenKind::End => return Ok(expr),
        TokenKind::RParen => ('(', ')'),
        TokenKind::RBrace => ('{', '}'),
        TokenKind::RBracket => ('[', ']'),
        other => {
            let expected = "AND, OR or the end of the expression".to_owned();
            return Err(FilterError::Unexpected { found: other.described(), expected, column: next.column });
        }
    };
    Err(FilterError::Unopened { open, close, column: next.column })
}

/// An operator as written, before checking it against the keyword's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Compare(NumberOp),
    Contains,
    BeginsWith,
    EndsWith,
}

impl Operator {
    fn spelled(self) -> &'static str {
        match self {
            Operator::Compare(op) => op.symbol(),
            Operator::Contains => "CONTAINS",
            Operator::BeginsWith => "BEGINSWITH",
            Operator::EndsWith => "ENDSWITH",
        }
    }

    fn for_numbers(self) -> Option<NumberOp> {
        match self {
            Operator::Compare(op) => Some(op),
            _ => None,
        }
    }

    fn for_strings(self) -> Option<StringOp> {
        match self {
            Operator::Compare(NumberOp::Eq) => Some(StringOp::Eq),
            Operator::Compare(NumberOp::Ne) => Some(StringOp::Ne),
            Operator::Contains => Some(StringOp::Contains),
            Operator::BeginsWith => Some(StringOp::BeginsWith),
            Operator::EndsWith => Some(StringOp::EndsWith),
            Operator::Compare(_) => None,
        }
    }

    fn for_booleans(self) -> Option<EqualityOp> {
        match self {
            Operator::Compare(NumberOp::Eq) => Some(EqualityOp::Eq),
            Operator::Compare(NumberOp::Ne) => Some(EqualityOp::Ne),
            _ => None,
        }
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token>,
    depth: usize,
}

fn is_word(kind: &TokenKind, lower: &str) -> bool {
    matches!(kind, TokenKind::Word(word) if word.eq_ignore_ascii_case(lower))
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<&Token> {
        let token = match self.peeked.take() {
            Some(token) => token,
            None => self.lexer.next_token()?,
        };
        Ok(self.peeked.insert(token))
    }

    fn next(&mut self) -> Result<Token> {
        match self.peeked.take() {
            Some(token) => Ok(token),
            None => self.lexer.next_token(),
        }
    }

    /// Consumes the next token if it is `kind`.
    fn eat(&mut self, kind: &TokenKind) -> Result<Option<Token>> {
        if &self.peek()?.kind == kind {
            return self.next().map(Some);
        }
        Ok(None)
    }

    fn expect_after(&mut self, kind: &TokenKind, after: &str) -> Result<Token> {
        let token = self.next()?;
        if &token.kind == kind {
            return Ok(token);
        }
        Err(FilterError::ExpectedAfter { expected: kind.described(), after: after.to_owned(), column: token.column })
    }

    /// The closing `)`, `}` or `]` of `open`; end of input means the opener is unbalanced.
    fn expect_close(&mut self, open: &Token, close: TokenKind, expected_before: &str) -> Result<()> {
        let token = self.next()?;
        if token.kind == close {
            return Ok(());
        }
        let (open_char, close_char) = match close {
            TokenKind::RBrace => ('{', '}'),
            TokenKind::RBracket => ('[', ']'),
            _ => ('(', ')'),
        };
        if token.kind == TokenKind::End {
            return Err(FilterError::Unclosed { open: open_char, close: close_char, column: open.column });
        }
        let expected = format!("{expected_before}{close_char} to close the {open_char} at column {}", open.column);
        Err(FilterError::Unexpected { found: token.kind.described(), expected, column: token.column })
    }

    fn expression(&mut self, scope: Scope) -> Result<FilterExpr> {
        let mut alternatives = vec![self.conjunction(scope)?];
        while is_word(&self.peek()?.kind, "or") {
            self.next()?;
            alternatives.push(self.conjunction(scope)?);
        }
        Ok(FilterExpr::or(alternatives))
    }

    fn conjunction(&mut self, scope: Scope) -> Result<FilterExpr> {
        let mut conditions = vec![self.unary(scope)?];
        loop {
            let next = &self.peek()?.kind;
            let starts_condition = match next {
                TokenKind::Word(word) => !word.eq_ignore_ascii_case("or"),
                TokenKind::Bang | TokenKind::LParen => true,
                _ => false,
            };
            if !starts_condition {
                return Ok(FilterExpr::and(conditions));
            }
            if is_word(next, "and") {
                self.next()?;
            }
            conditions.push(self.unary(scope)?);
        }
    }

    fn unary(&mut self, scope: Scope) -> Result<FilterExpr> {
        let column = self.peek()?.column;
        if self.depth >= MAX_DEPTH {
            return Err(FilterError::TooDeep { column, limit: MAX_DEPTH });
        }
        self.depth += 1;
        let result = self.unary_inner(scope);
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self, scope: Scope) -> Result<FilterExpr> {
        let token = self.peek()?.clone();
        if token.kind == TokenKind::Bang || is_word(&token.kind, "not") {
            self.next()?;
            return Ok(FilterExpr::Not(Box::new(self.unary(scope)?)));
        }
        if token.kind == TokenKind::LParen {
            self.next()?;
            if self.peek()?.kind == TokenKind::RParen {
                return Err(self.unexpected("a condition inside the parentheses")?);
            }
            let inner = self.expression(scope)?;
            self.expect_close(&token, TokenKind::RParen, "AND, OR or ")?;
            return Ok(inner);
        }
        self.primary(scope)
    }

    /// An `Unexpected` error for the next token.
    fn unexpected(&mut self, expected: &str) -> Result<FilterError> {
        let token = self.next()?;
        Ok(FilterError::Unexpected {
            found: token.kind.described(),
            expected: expected.to_owned(),
            column: token.column,
        })
    }

    fn primary(&mut self, scope: Scope) -> Result<FilterExpr> {
        let token = self.peek()?.clone();
        let TokenKind::Word(word) = &token.kind else {
            return Err(self.unexpected("a condition")?);
        };
        let lower = word.to_ascii_lowercase();
        if RESERVED.contains(&lower.as_str()) {
            return Err(self.unexpected("a condition")?);
        }
        self.next()?;
        if let Some(keyword) = Keyword::simple(&lower) {
            self.check_scope(&keyword, keyword.name(), token.column, scope)?;
            return self.comparison(keyword);
        }
        if lower == "annotation" || lower.starts_with("annotation.") {
            return self.annotation(word, token.column, scope);
        }
        let complex = matches!(lower.as_str(), "service" | "edge" | "id" | "group.name" | "group.arn" | "json")
            || lower.starts_with("rootcause.");
        if !complex {
            let suggestion = suggestion(&lower).map(str::to_owned);
            return Err(FilterError::UnknownKeyword { word: word.clone(), column: token.column, suggestion });
        }
        if scope != Scope::Trace {
            let valid_in = "only at the top level".to_owned();
            return Err(FilterError::Scope {
                keyword: lower,
                column: token.column,
                scope: scope.described(),
                valid_in,
            });
        }
        match lower.as_str() {
            "service" => self.service(),
            "edge" => self.edge(),
            "id" => Ok(FilterExpr::Node(self.node_id()?)),
            "group.name" => Ok(FilterExpr::Group(GroupRef::Name(self.group(&lower)?))),
            "group.arn" => Ok(FilterExpr::Group(GroupRef::Arn(self.group(&lower)?))),
            _ => self.root_cause(word, &lower, token.column),
        }
    }

    fn check_scope(&self, keyword: &Keyword, spelled: &str, column: usize, scope: Scope) -> Result<()> {
        if keyword.allowed_in(scope) {
            return Ok(());
        }
        Err(FilterError::Scope {
            keyword: spelled.to_owned(),
            column,
            scope: scope.described(),
            valid_in: keyword.valid_in().to_owned(),
        })
    }

    /// The operator after a keyword, if there is one.
    fn operator(&mut self) -> Result<Option<(Operator, usize)>> {
        let token = self.peek()?;
        let column = token.column;
        let operator = match &token.kind {
            TokenKind::Op(op) => Operator::Compare(*op),
            kind if is_word(kind, "contains") => Operator::Contains,
            kind if is_word(kind, "beginswith") => Operator::BeginsWith,
            kind if is_word(kind, "endswith") => Operator::EndsWith,
            _ => return Ok(None),
        };
        self.next()?;
        Ok(Some((operator, column)))
    }

    fn comparison(&mut self, keyword: Keyword) -> Result<FilterExpr> {
        let test = match keyword.value_type() {
            Some(value_type) => self.typed_test(&keyword, value_type)?,
            None => self.annotation_test()?,
        };
        Ok(FilterExpr::Compare(Comparison { keyword, test }))
    }

    fn typed_test(&mut self, keyword: &Keyword, value_type: ValueType) -> Result<Test> {
        let Some((operator, column)) = self.operator()? else {
            return match value_type {
                ValueType::Boolean => Ok(Test::Bool(EqualityOp::Eq, true)),
                ValueType::String => Ok(Test::Exists),
                ValueType::Number => {
                    let column = self.peek()?.column;
                    let expected = format!("an operator ({NUMBER_OPERATORS})");
                    Err(FilterError::ExpectedAfter { expected, after: keyword.name().to_owned(), column })
                }
            };
        };
        let type_error = |allowed: &str| FilterError::OperatorType {
            operator: operator.spelled().to_owned(),
            keyword: keyword.name().to_owned(),
            value_type: value_type.described().to_owned(),
            column,
            allowed: allowed.to_owned(),
        };
        match value_type {
            ValueType::Number => {
                let op = operator.for_numbers().ok_or_else(|| type_error(NUMBER_OPERATORS))?;
                Ok(Test::Number(op, self.number_value(operator)?))
            }
            ValueType::String => {
                let op = operator.for_strings().ok_or_else(|| type_error(STRING_OPERATORS))?;
                Ok(Test::Text(op, self.string_value(operator.spelled())?))
            }
            ValueType::Boolean => {
                let op = operator.for_booleans().ok_or_else(|| type_error(BOOLEAN_OPERATORS))?;
                Ok(Test::Bool(op, self.bool_value(operator)?))
            }
        }
    }

    fn expected_value(&mut self, expected: &str, operator: Operator) -> Result<FilterError> {
        let column = self.peek()?.column;
        Ok(FilterError::ExpectedAfter { expected: expected.to_owned(), after: operator.spelled().to_owned(), column })
    }

    fn number_value(&mut self, operator: Operator) -> Result<f64> {
        if let TokenKind::Number(value, _) = self.peek()?.kind {
            self.next()?;
            return Ok(value);
        }
        Err(self.expected_value("a number", operator)?)
    }

    fn bool_value(&mut self, operator: Operator) -> Result<bool> {
        let kind = &self.peek()?.kind;
        let value = if is_word(kind, "true") {
            true
        } else if is_word(kind, "false") {
            false
        } else {
            return Err(self.expected_value("true or false", operator)?);
        };
        self.next()?;
        Ok(value)
    }

    /// A quoted string, or a bare word taken as a string (spec 3.1: `name = traces`).
    fn bare_or_quoted(&mut self) -> Result<Option<String>> {
        let value = match &self.peek()?.kind {
            TokenKind::Str(text) => text.clone(),
            TokenKind::Word(word) if !RESERVED.contains(&word.to_ascii_lowercase().as_str()) => word.clone(),
            _ => return Ok(None),
        };
        self.next()?;
        Ok(Some(value))
    }

    fn string_value(&mut self, after: &str) -> Result<String> {
        if let Some(value) = self.bare_or_quoted()? {
            return Ok(value);
        }
        let column = self.peek()?.column;
        Err(FilterError::ExpectedAfter { expected: "a string".to_owned(), after: after.to_owned(), column })
    }

    /// Annotations take the type of their value; the operator narrows what the value may be.
    fn annotation_test(&mut self) -> Result<Test> {
        let Some((operator, _)) = self.operator()? else {
            return Ok(Test::Exists);
        };
        let equality = operator.for_booleans();
        if let (Some(op), TokenKind::Number(..)) = (operator.for_numbers(), &self.peek()?.kind) {
            return Ok(Test::Number(op, self.number_value(operator)?));
        }
        if let Some(op) = equality {
            let kind = &self.peek()?.kind;
            if is_word(kind, "true") || is_word(kind, "false") {
                return Ok(Test::Bool(op, self.bool_value(operator)?));
            }
        }
        if let Some(op) = operator.for_strings() {
            if let Some(value) = self.bare_or_quoted()? {
                return Ok(Test::Text(op, value));
            }
        }
        let expected = match (equality, operator.for_numbers()) {
            (Some(_), _) => "a string, a number, true or false",
            (None, Some(_)) => "a number",
            (None, None) => "a string",
        };
        Err(self.expected_value(expected, operator)?)
    }

    /// `annotation.KEY` (the key as written, so case-sensitive) or `annotation[KEY]`.
    fn annotation(&mut self, word: &str, column: usize, scope: Scope) -> Result<FilterExpr> {
        let dotted_key = word.get("annotation.".len()..).unwrap_or("");
        let key = if word.len() > "annotation".len() {
            dotted_key.to_owned()
        } else if let Some(open) = self.eat(&TokenKind::LBracket)? {
            let key = self.string_value("annotation[")?;
            self.expect_close(&open, TokenKind::RBracket, "")?;
            key
        } else {
            let expected = ".KEY or [KEY]".to_owned();
            let next_column = self.peek()?.column;
            return Err(FilterError::ExpectedAfter { expected, after: "annotation".to_owned(), column: next_column });
        };
        if key.is_empty() {
            let expected = "an annotation key".to_owned();
            let key_column = column + word.chars().count();
            return Err(FilterError::ExpectedAfter { expected, after: "annotation".to_owned(), column: key_column });
        }
        let keyword = Keyword::Annotation(key);
        self.check_scope(&keyword, word, column, scope)?;
        self.comparison(keyword)
    }

    /// `{ FILTER }` if the next token opens braces.
    fn braces(&mut self, scope: Scope) -> Result<Option<Box<FilterExpr>>> {
        let Some(open) = self.eat(&TokenKind::LBrace)? else {
            return Ok(None);
        };
        if self.peek()?.kind == TokenKind::RBrace {
            return Err(self.unexpected("a condition inside the braces")?);
        }
        let filter = self.expression(scope)?;
        self.expect_close(&open, TokenKind::RBrace, "AND, OR or ")?;
        Ok(Some(Box::new(filter)))
    }

    fn service(&mut self) -> Result<FilterExpr> {
        let open = self.expect_after(&TokenKind::LParen, "service")?;
        let node = if self.peek()?.kind == TokenKind::RParen { None } else { Some(self.node_selector("service(")?) };
        self.expect_close(&open, TokenKind::RParen, "")?;
        let filter = self.braces(Scope::Service)?;
        Ok(FilterExpr::Service(ServiceFilter { node, filter }))
    }

    fn edge(&mut self) -> Result<FilterExpr> {
        let open = self.expect_after(&TokenKind::LParen, "edge")?;
        let source = self.node_selector("edge(")?;
        self.expect_after(&TokenKind::Comma, "the edge's source")?;
        let destination = self.node_selector(",")?;
        self.expect_close(&open, TokenKind::RParen, "")?;
        let filter = self.braces(Scope::Edge)?;
        Ok(FilterExpr::Edge(EdgeFilter { source, destination, filter }))
    }

    fn node_selector(&mut self, after: &str) -> Result<NodeSelector> {
        if is_word(&self.peek()?.kind, "id") {
            self.next()?;
            return Ok(NodeSelector::Id(self.node_id()?));
        }
        if let Some(name) = self.bare_or_quoted()? {
            return Ok(NodeSelector::Name(name));
        }
        let column = self.peek()?.column;
        let expected = "a service name in quotes or id(...)".to_owned();
        Err(FilterError::ExpectedAfter { expected, after: after.to_owned(), column })
    }

    /// `(name: "x", type: "y")` after `id`; either part, in either order, commas optional.
    fn node_id(&mut self) -> Result<NodeId> {
        let open = self.expect_after(&TokenKind::LParen, "id")?;
        let mut id = NodeId { name: None, node_type: None };
        loop {
            let token = self.peek()?.clone();
            let slot = match &token.kind {
                TokenKind::RParen if id.name.is_some() || id.node_type.is_some() => break,
                kind if is_word(kind, "name") && id.name.is_none() => &mut id.name,
                kind if is_word(kind, "type") && id.node_type.is_none() => &mut id.node_type,
                TokenKind::End => return Err(FilterError::Unclosed { open: '(', close: ')', column: open.column }),
                _ => return Err(self.unexpected("name: or type: inside id(...)")?),
            };
            self.next()?;
            let part = if is_word(&token.kind, "name") { "name" } else { "type" };
            self.expect_after(&TokenKind::Colon, part)?;
            *slot = Some(self.string_value(&format!("{part}:"))?);
            self.eat(&TokenKind::Comma)?;
        }
        self.expect_close(&open, TokenKind::RParen, "")?;
        Ok(id)
    }

    fn group(&mut self, keyword: &str) -> Result<String> {
        match self.operator()? {
            Some((Operator::Compare(NumberOp::Eq), _)) => self.string_value("="),
            Some((operator, column)) => Err(FilterError::OperatorType {
                operator: operator.spelled().to_owned(),
                keyword: keyword.to_owned(),
                value_type: "a group".to_owned(),
                column,
                allowed: "=".to_owned(),
            }),
            None => {
                let column = self.peek()?.column;
                Err(FilterError::ExpectedAfter { expected: "=".to_owned(), after: keyword.to_owned(), column })
            }
        }
    }

    fn root_cause(&mut self, word: &str, lower: &str, column: usize) -> Result<FilterExpr> {
        if lower == "rootcause.json" || lower == "json" {
            return self.root_cause_json(lower);
        }
        let parts: Vec<&str> = lower.split('.').collect();
        let cause = match parts.get(1) {
            Some(&"fault") => Some(RootCauseKind::Fault),
            Some(&"error") => Some(RootCauseKind::Error),
            Some(&"responsetime") => Some(RootCauseKind::ResponseTime),
            _ => None,
        };
        let list = match parts.get(2) {
            Some(&"service") => Some(RootCauseList::Service),
            Some(&"entity") => Some(RootCauseList::Entity),
            Some(&"exception") => Some(RootCauseList::Exception),
            _ => None,
        };
        let (Some(cause), Some(list), 3) = (cause, list, parts.len()) else {
            let suggestion = suggestion(lower).map(str::to_owned);
            return Err(FilterError::UnknownKeyword { word: word.to_owned(), column, suggestion });
        };
        if (cause, list) == (RootCauseKind::ResponseTime, RootCauseList::Exception) {
            return Err(FilterError::NoResponseTimeExceptions { column });
        }
        let filter = self.braces(Scope::RootCause(cause, list))?;
        Ok(FilterExpr::RootCause(RootCauseFilter { cause, list, filter }))
    }

    fn root_cause_json(&mut self, keyword: &str) -> Result<FilterExpr> {
        match self.operator()? {
            Some((Operator::Compare(NumberOp::Eq), _)) => {}
            Some((operator, column)) => {
                return Err(FilterError::OperatorType {
                    operator: operator.spelled().to_owned(),
                    keyword: keyword.to_owned(),
                    value_type: "a JSON array".to_owned(),
                    column,
                    allowed: "= #[...]".to_owned(),
                })
            }
            None => {
                let column = self.peek()?.column;
                let expected = "= #[...]".to_owned();
                return Err(FilterError::ExpectedAfter { expected, after: keyword.to_owned(), column });
            }
        }
        let hash = self.next()?;
        if hash.kind != TokenKind::Hash {
            let expected = "a JSON array written #[...]".to_owned();
            return Err(FilterError::ExpectedAfter { expected, after: "=".to_owned(), column: hash.column });
        }
        // The peek buffer is empty after consuming `#`, so the lexer stands right after it.
        Ok(FilterExpr::RootCauseJson(self.lexer.json_array()?))
    }
}
