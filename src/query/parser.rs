//! Recursive descent over the tokens. Precedence, tightest first: NOT, NEAR, AND, OR.
//!
//! ```text
//! or      := and ("OR" and)*
//! and     := near (["AND"] near)*
//! near    := unary ("NEAR"["/"n] unary)*
//! unary   := ("NOT" | "-") unary | primary
//! primary := "(" or ")" | "title:" primary | "lang:" WORD | "feed:" WORD | PHRASE | WORD
//! ```

use super::lexer::{FieldName, Spanned, Tok};
use super::limits::{MAX_DEPTH, MAX_WORDS};
use super::{Expr, QueryError};
use crate::text;

pub const DEFAULT_NEAR: u32 = 10;

pub fn parse(tokens: &[Spanned], end_column: usize) -> Result<Expr, QueryError> {
    let mut p = Parser { tokens, pos: 0, end_column, depth: 0, words: 0 };
    if tokens.is_empty() {
        return Err(QueryError::new(1, "a word, a phrase or '(' (the query is empty)"));
    }
    let expr = p.or()?;
    if let Some(t) = p.peek() {
        let what = if t.tok == Tok::RParen {
            "an operator or the end of the query, found ')' without a matching '('".to_string()
        } else {
            format!("an operator or the end of the query, found {}", describe(&t.tok))
        };
        return Err(QueryError::new(t.column, what));
    }
    Ok(expr)
}

struct Parser<'a> {
    tokens: &'a [Spanned],
    pos: usize,
    end_column: usize,
    /// Levels of nesting open at the current token (see [`MAX_DEPTH`]): recursion is
    /// bounded here, so no query can exhaust the stack of the parser or of anything
    /// that walks the expression after it.
    depth: usize,
    /// Words read so far (see [`MAX_WORDS`]).
    words: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Spanned> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<&Spanned> {
        let t = self.tokens.get(self.pos);
        self.pos += 1;
        t
    }

    /// Opens a level of nesting at `column`, or refuses past [`MAX_DEPTH`].
    fn enter(&mut self, column: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::new(
                column,
                format!("at most {MAX_DEPTH} levels of nesting (parentheses, NOT, NEAR and title: inside each other)"),
            ));
        }
        Ok(())
    }

    /// Counts `n` more words, or refuses past [`MAX_WORDS`].
    fn count_words(&mut self, n: usize, column: usize) -> Result<(), QueryError> {
        self.words += n;
        if self.words > MAX_WORDS {
            return Err(QueryError::new(column, format!("at most {MAX_WORDS} words in a query")));
        }
        Ok(())
    }

    /// An error at the current token (or the end), saying what was expected.
    fn expected(&self, what: &str) -> QueryError {
        match self.peek() {
            Some(t) => QueryError::new(t.column, format!("{what}, found {}", describe(&t.tok))),
            None => QueryError::new(self.end_column, format!("{what}, found the end of the query")),
        }
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and()?];
        while self.peek().is_some_and(|t| t.tok == Tok::Or) {
            self.next();
            items.push(self.and_after("OR")?);
        }
        Ok(flatten(items, Expr::Or))
    }

    fn and_after(&mut self, op: &str) -> Result<Expr, QueryError> {
        if !self.starts_operand() {
            return Err(self.expected(&format!("a word, a phrase or '(' after {op}")));
        }
        self.and()
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.near()?];
        loop {
            if self.peek().is_some_and(|t| t.tok == Tok::And) {
                self.next();
                if !self.starts_operand() {
                    return Err(self.expected("a word, a phrase or '(' after AND"));
                }
                items.push(self.near()?);
            } else if self.starts_operand() {
                items.push(self.near()?);
            } else {
                break;
            }
        }
        Ok(flatten(items, Expr::And))
    }

    fn near(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        let depth = self.depth;
        while let Some(Spanned { tok: Tok::Near(n), column }) = self.peek().cloned() {
            // Each NEAR of a chain nests the ones before it.
            self.enter(column)?;
            self.next();
            if !self.starts_operand() {
                return Err(self.expected("a word, a phrase or '(' after NEAR"));
            }
            let right = self.unary()?;
            for side in [&left, &right] {
                if !side.has_positions() {
                    return Err(QueryError::new(
                        column,
                        "words, phrases or groups of them on both sides of NEAR (NOT, lang: and feed: have no position)",
                    ));
                }
            }
            left = Expr::Near { left: Box::new(left), right: Box::new(right), distance: n.unwrap_or(DEFAULT_NEAR) };
        }
        self.depth = depth;
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if let Some(t) = self.peek().filter(|t| matches!(t.tok, Tok::Not | Tok::Minus)).cloned() {
            self.next();
            let op = if t.tok == Tok::Not { "NOT" } else { "-" };
            if !self.starts_operand() {
                return Err(self.expected(&format!("a word, a phrase or '(' after {op}")));
            }
            self.enter(t.column)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn starts_operand(&self) -> bool {
        self.peek().is_some_and(|t| {
            matches!(t.tok, Tok::Word(_) | Tok::Phrase(_) | Tok::LParen | Tok::Not | Tok::Minus | Tok::Field(_))
        })
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.expected("a word, a phrase or '('"));
        };
        match t.tok {
            Tok::LParen => {
                self.next();
                if self.peek().is_some_and(|t| t.tok == Tok::RParen) {
                    return Err(self.expected("a word, a phrase or '(' inside the parentheses"));
                }
                self.enter(t.column)?;
                let inner = self.or()?;
                self.depth -= 1;
                if self.peek().is_some_and(|t| t.tok == Tok::RParen) {
                    self.next();
                    Ok(inner)
                } else {
                    Err(self.expected(&format!("')' to close the '(' at column {}", t.column)))
                }
            }
            Tok::Field(FieldName::Title) => {
                self.next();
                if !self.peek().is_some_and(|t| matches!(t.tok, Tok::Word(_) | Tok::Phrase(_) | Tok::LParen)) {
                    return Err(self.expected("a word, a phrase or '(' after title:"));
                }
                self.enter(t.column)?;
                let inner = self.primary()?;
                self.depth -= 1;
                Ok(Expr::Title(Box::new(inner)))
            }
            Tok::Field(field) => {
                self.next();
                let name = if field == FieldName::Lang { "lang:" } else { "feed:" };
                match self.peek().cloned() {
                    Some(Spanned { tok: Tok::Word(value), .. }) => {
                        self.next();
                        Ok(if field == FieldName::Lang {
                            Expr::Lang(value.to_ascii_lowercase())
                        } else {
                            Expr::Feed(value)
                        })
                    }
                    _ => Err(self.expected(&format!("a value right after {name}"))),
                }
            }
            Tok::Phrase(text) => {
                self.next();
                // "nota kesepaham*": the last word is a prefix.
                let (body, prefix) = match text.trim_end().strip_suffix('*') {
                    Some(body) => (body, true),
                    None => (text.as_str(), false),
                };
                let words = text::tokens(body);
                if words.is_empty() {
                    return Err(QueryError::new(t.column, "words inside the quotes"));
                }
                self.count_words(words.len(), t.column)?;
                Ok(Expr::Words { words, prefix })
            }
            Tok::Word(word) => {
                self.next();
                let (body, prefix) = match word.strip_suffix('*') {
                    Some(body) => (body, true),
                    None => (word.as_str(), false),
                };
                if let Some(star) = body.find('*') {
                    let col = t.column + body[..star].chars().count();
                    return Err(QueryError::new(col, "'*' only at the end of a word"));
                }
                let words = text::tokens(body);
                if words.is_empty() {
                    return Err(QueryError::new(t.column, format!("a word with letters or digits, found {word:?}")));
                }
                self.count_words(words.len(), t.column)?;
                Ok(Expr::Words { words, prefix })
            }
            _ => Err(self.expected("a word, a phrase or '('")),
        }
    }
}

fn flatten(mut items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 { items.pop().expect("one item") } else { make(items) }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Word(w) => format!("the word {w:?}"),
        Tok::Phrase(p) => format!("the phrase \"{p}\""),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::And => "AND".into(),
        Tok::Or => "OR".into(),
        Tok::Not => "NOT".into(),
        Tok::Minus => "'-'".into(),
        Tok::Near(_) => "NEAR".into(),
        Tok::Field(FieldName::Title) => "title:".into(),
        Tok::Field(FieldName::Lang) => "lang:".into(),
        Tok::Field(FieldName::Feed) => "feed:".into(),
    }
}
