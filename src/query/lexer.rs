//! Splits a query into tokens, each with the column where it starts.

use super::QueryError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A word as written (may end in `*`).
    Word(String),
    /// The text between double quotes.
    Phrase(String),
    LParen,
    RParen,
    And,
    Or,
    Not,
    /// `-` directly before a term.
    Minus,
    /// `NEAR` or `NEAR/n`.
    Near(Option<u32>),
    /// `title:`, `lang:` or `feed:`.
    Field(FieldName),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldName {
    Title,
    Lang,
    Feed,
}

/// A token and its 1-based column (in characters).
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub tok: Tok,
    pub column: usize,
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | '"')
}

pub fn lex(input: &str) -> Result<Vec<Spanned>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let push = |tok, out: &mut Vec<Spanned>| out.push(Spanned { tok, column });
        match c {
            '(' => {
                push(Tok::LParen, &mut out);
                i += 1;
            }
            ')' => {
                push(Tok::RParen, &mut out);
                i += 1;
            }
            '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '"')
                    .ok_or_else(|| QueryError::new(column, "a closing '\"' for the phrase that starts here"))?;
                let text: String = chars[i + 1..i + 1 + end].iter().collect();
                push(Tok::Phrase(text), &mut out);
                i += end + 2;
            }
            '-' if chars.get(i + 1).is_some_and(|&n| is_word_char(n) || n == '(' || n == '"') => {
                push(Tok::Minus, &mut out);
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if let Some((field, rest_len)) = field_prefix(&word, column)? {
                    push(Tok::Field(field), &mut out);
                    // Lex what follows the colon as its own token(s).
                    i = start + (word.chars().count() - rest_len);
                    continue;
                }
                let tok = match word.as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    "NEAR" => Tok::Near(None),
                    w if w.starts_with("NEAR/") => {
                        let n = w["NEAR/".len()..]
                            .parse::<u32>()
                            .ok()
                            .filter(|n| *n >= 1 && *n <= 1000)
                            .ok_or_else(|| QueryError::new(column + 5, "a distance from 1 to 1000 after NEAR/"))?;
                        Tok::Near(Some(n))
                    }
                    _ => Tok::Word(word),
                };
                push(tok, &mut out);
            }
        }
    }
    Ok(out)
}

/// Recognises `title:`, `lang:`, `feed:` at the start of a word. Returns the field and
/// how many characters follow the colon. Another `name:` prefix is an error, so a
/// mistyped field does not silently become a word.
fn field_prefix(word: &str, column: usize) -> Result<Option<(FieldName, usize)>, QueryError> {
    let Some((name, rest)) = word.split_once(':') else {
        return Ok(None);
    };
    let field = match name {
        "title" => FieldName::Title,
        "lang" => FieldName::Lang,
        "feed" => FieldName::Feed,
        _ if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic()) && !rest.starts_with("//") => {
            return Err(QueryError::new(column, format!("a field title:, lang: or feed:, not {name}:")));
        }
        _ => return Ok(None),
    };
    Ok(Some((field, rest.chars().count())))
}
