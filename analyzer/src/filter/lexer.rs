//! Tokens of a filter expression, produced on demand so the parser can hand the text after
//! `#` to the JSON parser (`rootcause.json = #[...]`), whose syntax is not ours.
//!
//! - Words: `[A-Za-z_][A-Za-z0-9_.-]*`, so dotted keywords (`http.status`,
//!   `rootcause.fault.service`) and lenient bare values (`random-name`) are one token.
//! - Strings: double-quoted; `\"` and `\\` are the only escapes.
//! - Numbers: `-`? digits (`.` digits)?; an exponent is not part of the language.
//! - Columns are 1-based and count characters, not bytes.

use super::ast::NumberOp;
use crate::error::{FilterError, FilterResult as Result};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// As written; the parser compares keywords case-insensitively.
    Word(String),
    Str(String),
    Number(f64, String),
    Op(NumberOp),
    Bang,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Hash,
    End,
}

impl TokenKind {
    /// The token as error messages name it: `string "x"`, `number 5`, `)`, `end of input`.
    pub(crate) fn described(&self) -> String {
        match self {
            TokenKind::Word(word) => word.clone(),
            TokenKind::Str(text) => format!("string {text:?}"),
            TokenKind::Number(_, text) => format!("number {text}"),
            TokenKind::Op(op) => op.symbol().to_owned(),
            TokenKind::Bang => "!".to_owned(),
            TokenKind::LParen => "(".to_owned(),
            TokenKind::RParen => ")".to_owned(),
            TokenKind::LBrace => "{".to_owned(),
            TokenKind::RBrace => "}".to_owned(),
            TokenKind::LBracket => "[".to_owned(),
            TokenKind::RBracket => "]".to_owned(),
            TokenKind::Comma => ",".to_owned(),
            TokenKind::Colon => ":".to_owned(),
            TokenKind::Hash => "#".to_owned(),
            TokenKind::End => "end of input".to_owned(),
        }
    }
}

pub(crate) struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of each character, so columns count characters.
    chars: Vec<(usize, char)>,
    position: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lexer { text, chars: text.char_indices().collect(), position: 0 }
    }

    fn peek_char(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.position + ahead).map(|&(_, c)| c)
    }

    fn skip_whitespace(&mut self) {
        while self.peek_char(0).is_some_and(char::is_whitespace) {
            self.position += 1;
        }
    }

    pub(crate) fn next_token(&mut self) -> Result<Token> {
        self.skip_whitespace();
        let column = self.position + 1;
        let Some(c) = self.peek_char(0) else {
            return Ok(Token { kind: TokenKind::End, column });
        };
        let kind = match c {
            '"' => self.string()?,
            c if c.is_ascii_alphabetic() || c == '_' => self.word(),
            c if c.is_ascii_digit() => self.number(column)?,
            '-' if self.peek_char(1).is_some_and(|next| next.is_ascii_digit()) => self.number(column)?,
            _ => self.punctuation(c, column)?,
        };
        Ok(Token { kind, column })
    }

    fn punctuation(&mut self, c: char, column: usize) -> Result<TokenKind> {
        let followed_by_equals = self.peek_char(1) == Some('=');
        let (kind, length) = match c {
            '!' if followed_by_equals => (TokenKind::Op(NumberOp::Ne), 2),
            '!' => (TokenKind::Bang, 1),
            '<' if followed_by_equals => (TokenKind::Op(NumberOp::Le), 2),
            '<' => (TokenKind::Op(NumberOp::Lt), 1),
            '>' if followed_by_equals => (TokenKind::Op(NumberOp::Ge), 2),
            '>' => (TokenKind::Op(NumberOp::Gt), 1),
            '=' => (TokenKind::Op(NumberOp::Eq), 1),
            '(' => (TokenKind::LParen, 1),
            ')' => (TokenKind::RParen, 1),
            '{' => (TokenKind::LBrace, 1),
            '}' => (TokenKind::RBrace, 1),
            '[' => (TokenKind::LBracket, 1),
            ']' => (TokenKind::RBracket, 1),
            ',' => (TokenKind::Comma, 1),
            ':' => (TokenKind::Colon, 1),
            '#' => (TokenKind::Hash, 1),
            character => return Err(FilterError::UnexpectedCharacter { character, column }),
        };
        self.position += length;
        Ok(kind)
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.position;
        while self.peek_char(0).is_some_and(&keep) {
            self.position += 1;
        }
        self.chars[start..self.position].iter().map(|&(_, c)| c).collect()
    }

    fn word(&mut self) -> TokenKind {
        TokenKind::Word(self.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    }

    fn number(&mut self, column: usize) -> Result<TokenKind> {
        let mut text = String::new();
        if self.peek_char(0) == Some('-') {
            self.position += 1;
            text.push('-');
        }
        text.push_str(&self.take_while(|c| c.is_ascii_digit()));
        let decimal_follows = self.peek_char(1).is_some_and(|c| c.is_ascii_digit());
        if self.peek_char(0) == Some('.') && decimal_follows {
            self.position += 1;
            text.push('.');
            text.push_str(&self.take_while(|c| c.is_ascii_digit()));
        }
        // Digits with at most one '.' always parse, but hundreds of digits overflow to infinity,
        // which no comparison (nor the canonical print) can use.
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(TokenKind::Number(value, text)),
            _ => Err(FilterError::NumberTooLarge { column }),
        }
    }

    fn string(&mut self) -> Result<TokenKind> {
        let start_column = self.position + 1;
        self.position += 1;
        let mut value = String::new();
        loop {
            match self.peek_char(0) {
                None => return Err(FilterError::UnterminatedString { column: start_column }),
                Some('"') => {
                    self.position += 1;
                    return Ok(TokenKind::Str(value));
                }
                Some('\\') => {
                    let escape_column = self.position + 1;
                    match self.peek_char(1) {
                        Some(escaped @ ('"' | '\\')) => value.push(escaped),
                        Some(escape) => return Err(FilterError::UnknownEscape { escape, column: escape_column }),
                        None => return Err(FilterError::UnterminatedString { column: start_column }),
                    }
                    self.position += 2;
                }
                Some(c) => {
                    value.push(c);
                    self.position += 1;
                }
            }
        }
    }

    /// The JSON array right after `#`, parsed by serde_json; lexing resumes after it.
    pub(crate) fn json_array(&mut self) -> Result<serde_json::Value> {
        self.skip_whitespace();
        let column = self.position + 1;
        if self.peek_char(0) != Some('[') {
            let expected = "a JSON array such as #[{\"Services\": []}]".to_owned();
            return Err(FilterError::ExpectedAfter { expected, after: "#".to_owned(), column });
        }
        let start_byte = self.chars[self.position].0;
        let rest = &self.text[start_byte..];
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        match values.next() {
            Some(Ok(value)) => {
                let end_byte = start_byte + values.byte_offset();
                self.position = self.chars.partition_point(|&(byte, _)| byte < end_byte);
                Ok(value)
            }
            Some(Err(error)) => Err(self.json_error(&error, column)),
            None => Err(FilterError::InvalidJson { message: "empty".to_owned(), column }),
        }
    }

    fn json_error(&self, error: &serde_json::Error, array_column: usize) -> FilterError {
        let full = error.to_string();
        let message = full.split(" at line ").next().unwrap_or(&full).to_owned();
        // serde_json counts lines and bytes; map back to our character columns when it can.
        let column = if error.line() == 1 {
            let start_byte = self.chars[array_column - 1].0;
            let error_byte = start_byte + error.column().saturating_sub(1);
            self.chars.partition_point(|&(byte, _)| byte < error_byte) + 1
        } else {
            array_column
        };
        FilterError::InvalidJson { message, column }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        let mut lexer = Lexer::new(text);
        let mut kinds = Vec::new();
        loop {
            let token = lexer.next_token().unwrap();
            if token.kind == TokenKind::End {
                return kinds;
            }
            kinds.push(token.kind);
        }
    }

    #[test]
    fn operators_and_negative_numbers() {
        assert_eq!(
            kinds("a!=-5 !b>=0.7"),
            vec![
                TokenKind::Word("a".into()),
                TokenKind::Op(NumberOp::Ne),
                TokenKind::Number(-5.0, "-5".into()),
                TokenKind::Bang,
                TokenKind::Word("b".into()),
                TokenKind::Op(NumberOp::Ge),
                TokenKind::Number(0.7, "0.7".into()),
            ]
        );
    }

    #[test]
    fn string_escapes() {
        assert_eq!(kinds(r#""a\"b\\c""#), vec![TokenKind::Str(r#"a"b\c"#.into())]);
    }

    #[test]
    fn columns_count_characters() {
        let mut lexer = Lexer::new("\"é\" x");
        lexer.next_token().unwrap();
        assert_eq!(lexer.next_token().unwrap().column, 5);
    }

    #[test]
    fn json_resumes_after_the_array() {
        let mut lexer = Lexer::new("[{\"Name\": \"é\"}] fault");
        assert!(lexer.json_array().unwrap().is_array());
        assert_eq!(lexer.next_token().unwrap(), Token { kind: TokenKind::Word("fault".into()), column: 17 });
    }
}
