//! HTML (or plain text) to plain text, one paragraph per line.

use html5gum::{DefaultEmitter, Emitter, ForwardingEmitter, Token, Tokenizer};

/// An html5gum emitter that reports no parse errors, so the tokenizer skips its check of
/// every byte for characters HTML forbids (a sixth of the time of extracting a page):
/// kabar reads what a page says, never whether it is well-formed.
pub struct Quiet<E>(pub E);

impl<E: Emitter> ForwardingEmitter for Quiet<E> {
    type Token = E::Token;

    fn inner(&mut self) -> &mut impl Emitter<Token = Self::Token> {
        &mut self.0
    }

    fn should_emit_errors(&mut self) -> bool {
        false
    }
}

/// HTML (or plain text) → plain text, one paragraph per line. Script, style and
/// similar elements are dropped with their content; entities are decoded.
pub fn html_to_text(html: &str) -> String {
    if !html.contains('<') && !html.contains('&') {
        return plain_lines(html);
    }
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut out = String::with_capacity(html.len());
    let mut skip_depth = 0usize;
    let plain = !html.contains('<');
    for token in Tokenizer::new_with_emitter(html, Quiet(emitter)).flatten() {
        match token {
            Token::StartTag(tag) => {
                let name = tag.name.as_slice();
                if is_skipped(name) && !tag.self_closing {
                    skip_depth += 1;
                } else if is_block(name) {
                    // A block starts text again, as in a browser: an element left open
                    // (`<object>` without `</object>`) does not swallow the rest.
                    if skip_depth > 0 && ends_skipping(name) {
                        skip_depth = 0;
                    }
                    out.push('\n');
                }
            }
            Token::EndTag(tag) => {
                let name = tag.name.as_slice();
                if is_skipped(name) {
                    skip_depth = skip_depth.saturating_sub(1);
                } else if is_block(name) {
                    out.push('\n');
                }
            }
            Token::String(s) if skip_depth == 0 => {
                let s = String::from_utf8_lossy(&s);
                if plain {
                    out.push_str(&s);
                } else {
                    // In HTML a newline inside text is only a space.
                    out.extend(s.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }));
                }
            }
            _ => {}
        }
    }
    plain_lines(&out)
}

/// The text of HTML's named character reference `&name;` (`eacute` → `é`), from the
/// WHATWG table html5gum carries; `None` for a name HTML does not define.
pub fn html_entity(name: &str) -> Option<String> {
    let source = format!("&{name};");
    let mut out = String::new();
    for token in Tokenizer::new(&source).flatten() {
        if let Token::String(s) = token {
            out.push_str(&String::from_utf8_lossy(&s));
        }
    }
    (out != source && !out.is_empty()).then_some(out)
}

/// Trims every line, squeezes runs of spaces, drops empty lines; paragraphs are
/// separated by one blank line.
fn plain_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.lines() {
        let mut words = line.split_whitespace().peekable();
        if words.peek().is_none() {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        for (i, w) in words.enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    out
}

/// Block elements that end an unclosed `object`, `iframe`, `svg`, `math` or `template`.
fn ends_skipping(name: &[u8]) -> bool {
    matches!(
        name,
        b"p" | b"div"
            | b"li"
            | b"ul"
            | b"ol"
            | b"h1"
            | b"h2"
            | b"h3"
            | b"h4"
            | b"h5"
            | b"h6"
            | b"blockquote"
            | b"table"
            | b"article"
            | b"section"
    )
}

fn is_skipped(name: &[u8]) -> bool {
    matches!(
        name,
        b"script" | b"style" | b"noscript" | b"template" | b"iframe" | b"object" | b"svg" | b"math" | b"head"
    )
}

fn is_block(name: &[u8]) -> bool {
    matches!(
        name,
        b"p" | b"br"
            | b"div"
            | b"li"
            | b"ul"
            | b"ol"
            | b"h1"
            | b"h2"
            | b"h3"
            | b"h4"
            | b"h5"
            | b"h6"
            | b"tr"
            | b"table"
            | b"blockquote"
            | b"pre"
            | b"section"
            | b"article"
            | b"header"
            | b"footer"
            | b"figure"
            | b"figcaption"
            | b"hr"
            | b"dd"
            | b"dt"
            | b"aside"
            | b"nav"
    )
}
