//! The search shortlist for PostgreSQL: the index expression (quoted word forms, `*` for a
//! prefix, AND, OR and parentheses: see `Query::fts`) as a `tsquery` over the same lexemes,
//! with each list of alternatives made short.
//!
//! A word's forms are many (`kerja`, `kerjakan`, `kerjanya`, `dikerjakan` …: hundreds for a
//! phrase), and PostgreSQL checks a row against every lexeme of the query, so a long list
//! costs each row it reads. Alternatives that begin with another of at least
//! [`MIN_PREFIX`] characters are read as that one's prefix (`'kerja':*`), and the parts of
//! an AND are checked shortest first. The shortlist admits a little more than the forms
//! alone, never less, and the `Matcher` still decides.

/// The shortest alternative that stands for the longer ones it begins.
const MIN_PREFIX: usize = 4;

#[derive(Debug)]
enum Node {
    Term { word: String, prefix: bool },
    Group { and: bool, items: Vec<Node> },
}

/// The `tsquery` for an index expression.
pub(super) fn tsquery(fts: &str) -> String {
    let mut tokens = Tokens { rest: fts };
    match group(&mut tokens) {
        Some(node) if tokens.rest.trim().is_empty() => render(&short(node)),
        // Not an expression `Query::fts` writes: read word for word.
        _ => literal(fts),
    }
}

struct Tokens<'a> {
    rest: &'a str,
}

enum Token {
    Open,
    Close,
    And,
    Or,
    Term(String, bool),
}

impl Tokens<'_> {
    fn next(&mut self) -> Option<Token> {
        self.rest = self.rest.trim_start();
        let (token, len) = if self.rest.starts_with('(') {
            (Token::Open, 1)
        } else if self.rest.starts_with(')') {
            (Token::Close, 1)
        } else if self.rest.starts_with("AND") {
            (Token::And, 3)
        } else if self.rest.starts_with("OR") {
            (Token::Or, 2)
        } else if let Some(quoted) = self.rest.strip_prefix('"') {
            let end = quoted.find('"')?;
            let prefix = quoted[end + 1..].starts_with('*');
            (Token::Term(quoted[..end].to_string(), prefix), end + 2 + usize::from(prefix))
        } else {
            return None;
        };
        self.rest = &self.rest[len..];
        Some(token)
    }
}

/// Items joined by one operator, up to a `)` or the end.
fn group(tokens: &mut Tokens) -> Option<Node> {
    let mut items = Vec::new();
    let mut and = None;
    loop {
        let before = tokens.rest;
        match tokens.next() {
            Some(Token::Open) => {
                items.push(group(tokens)?);
                if !matches!(tokens.next(), Some(Token::Close)) {
                    return None;
                }
            }
            Some(Token::Term(word, prefix)) => items.push(Node::Term { word, prefix }),
            Some(op @ (Token::And | Token::Or)) => {
                let is_and = matches!(op, Token::And);
                // Mixed operators without parentheses: not written by `Query::fts`.
                if *and.get_or_insert(is_and) != is_and || items.is_empty() {
                    return None;
                }
            }
            Some(Token::Close) => {
                tokens.rest = before;
                break;
            }
            None => break,
        }
    }
    if items.is_empty() {
        return None;
    }
    Some(Node::Group { and: and.unwrap_or(false), items })
}

/// `node` with nested lists of alternatives flattened into one, and each list's
/// alternatives that begin with another read as that one's prefix.
fn short(node: Node) -> Node {
    let Node::Group { and, items } = node else { return node };
    let mut items: Vec<Node> = items.into_iter().map(short).collect();
    if and {
        // PostgreSQL reads an AND left to right and stops at the first false: the
        // shortest first, so most rows are turned away after the fewest lexemes.
        items.sort_by_key(size);
        return Node::Group { and, items };
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        match item {
            Node::Group { and: false, items } => flat.extend(items),
            other => flat.push(other),
        }
    }
    let (mut terms, mut rest): (Vec<Node>, Vec<Node>) = flat.into_iter().partition(|n| matches!(n, Node::Term { .. }));
    terms.sort_by(|a, b| word_of(a).cmp(word_of(b)));
    let mut kept: Vec<Node> = Vec::with_capacity(terms.len());
    for term in terms {
        if let (Some(Node::Term { word: last, prefix }), Node::Term { word, prefix: this }) = (kept.last_mut(), &term)
            && word.starts_with(last.as_str())
            && (word == last || *prefix || last.chars().count() >= MIN_PREFIX)
        {
            *prefix |= word != last || *this;
            continue;
        }
        kept.push(term);
    }
    kept.append(&mut rest);
    if kept.len() == 1 {
        return kept.pop().expect("one item");
    }
    Node::Group { and: false, items: kept }
}

/// The lexemes in `n`.
fn size(n: &Node) -> usize {
    match n {
        Node::Term { .. } => 1,
        Node::Group { items, .. } => items.iter().map(size).sum(),
    }
}

fn word_of(n: &Node) -> &str {
    match n {
        Node::Term { word, .. } => word,
        Node::Group { .. } => "",
    }
}

fn render(node: &Node) -> String {
    match node {
        Node::Term { word, prefix } => format!("'{}'{}", word.replace('\'', "''"), if *prefix { ":*" } else { "" }),
        Node::Group { and, items } => {
            let parts: Vec<String> = items.iter().map(render).collect();
            format!("({})", parts.join(if *and { " & " } else { " | " }))
        }
    }
}

/// The expression read token for token: quoted forms as lexemes, AND and OR as `&` and `|`.
fn literal(fts: &str) -> String {
    let mut out = String::with_capacity(fts.len());
    let mut rest = fts;
    while let Some(c) = rest.chars().next() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            out.push('\'');
            out.push_str(&quoted[..end].replace('\'', "''"));
            out.push('\'');
            rest = quoted.get(end + 1..).unwrap_or("");
            if let Some(after) = rest.strip_prefix('*') {
                out.push_str(":*");
                rest = after;
            }
        } else if let Some(after) = rest.strip_prefix("AND") {
            out.push('&');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("OR") {
            out.push('|');
            rest = after;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::tsquery;

    #[test]
    fn the_index_expression_reads_the_same_as_a_tsquery() {
        let q = crate::query::Query::parse("digital* AND (mou OR \"kerja sama\")").unwrap();
        let ts = tsquery(&q.fts().unwrap());
        assert!(!ts.contains('"') && !ts.contains("AND") && !ts.contains("OR"), "{ts}");
        assert!(ts.contains("'digital':*") && ts.contains("'mou'") && ts.contains(" & ") && ts.contains(" | "), "{ts}");
        assert_eq!(ts.matches('(').count(), ts.matches(')').count());
        assert_eq!(tsquery("(\"a\" OR \"b\"*)"), "('a' | 'b':*)");
        assert_eq!(tsquery("(\"it's\")"), "'it''s'");
    }

    #[test]
    fn alternatives_that_begin_with_another_are_read_as_its_prefix() {
        assert_eq!(tsquery("(\"kerjakan\" OR \"kerja\" OR \"dikerja\" OR \"kerjanya\"*)"), "('dikerja' | 'kerja':*)");
        // Nested lists of alternatives are one list.
        assert_eq!(
            tsquery("(\"sama\" OR (\"samanya\" OR (\"kerja\" AND \"sama\")))"),
            "('sama':* | ('kerja' & 'sama'))"
        );
        // Short words stay whole: `'mou':*` would admit `mount`, `mouse` …
        assert_eq!(tsquery("(\"mou\" OR \"mous\")"), "('mou' | 'mous')");
        // A repeat is one, and a prefix stays a prefix.
        assert_eq!(tsquery("(\"mou\" OR \"mou\" OR \"mou\"*)"), "'mou':*");
        assert_eq!(tsquery("(\"ab\" AND \"ab\")"), "('ab' & 'ab')");
        // The shorter part of an AND comes first.
        assert_eq!(tsquery("((\"a\" OR \"b\") AND \"c\")"), "('c' & ('a' | 'b'))");
    }

    #[test]
    fn the_short_form_admits_every_form_the_long_one_does() {
        // Every form a phrase's shortlist names is still matched, by itself or a prefix.
        let q = crate::query::Query::parse("\"kerja sama\" NEAR/5 digital").unwrap();
        let fts = q.fts().unwrap();
        let long = super::literal(&fts);
        let short = tsquery(&fts);
        assert!(short.len() * 3 < long.len(), "{} against {}", short.len(), long.len());
        let lexemes = |s: &str| -> Vec<(String, bool)> {
            s.split('\'')
                .skip(1)
                .step_by(2)
                .zip(s.split('\'').skip(2).step_by(2))
                .map(|(w, after)| (w.to_string(), after.starts_with(":*")))
                .collect()
        };
        let kept = lexemes(&short);
        for (word, _) in lexemes(&long) {
            assert!(kept.iter().any(|(k, p)| *k == word || (*p && word.starts_with(k.as_str()))), "{word} lost");
        }
    }

    #[test]
    fn an_expression_it_cannot_read_is_read_word_for_word() {
        assert_eq!(tsquery("(\"a\" AND \"b\" OR \"c\")"), "('a' & 'b' | 'c')");
        assert_eq!(tsquery("(\"a\""), "('a'");
    }
}
