//! Page bytes → UTF-8: a byte-order mark decides; bytes that are valid UTF-8 are UTF-8;
//! otherwise the HTTP charset, then the page's own `<meta charset>` (or `http-equiv`),
//! then windows-1252, which every byte decodes in.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// How far into the page a `<meta charset>` is looked for (the HTML standard says 1024
/// bytes; real pages put a comment or a script first, so a little more).
const META_WINDOW: usize = 4096;

/// The page as text, and the encoding it was read in.
pub fn decode<'a>(bytes: &'a [u8], http_charset: Option<&str>) -> (Cow<'a, str>, &'static Encoding) {
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return (text, encoding);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return (Cow::Borrowed(text), UTF_8);
    }
    let declared = http_charset
        .and_then(|c| Encoding::for_label(c.trim().as_bytes()))
        .or_else(|| meta_charset(&bytes[..bytes.len().min(META_WINDOW)]))
        // A page that says UTF-8 but is not: its bytes are some legacy encoding.
        .filter(|e| *e != UTF_8)
        .unwrap_or(WINDOWS_1252);
    let (text, _) = declared.decode_without_bom_handling(bytes);
    (text, declared)
}

/// The encoding a `<meta charset=…>` or `<meta http-equiv=content-type content="…;
/// charset=…">` near the start names.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let mut rest = head.as_str();
    while let Some(at) = rest.find("<meta") {
        rest = &rest[at + 5..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        if let Some(c) = tag.find("charset") {
            let value = tag[c + 7..].trim_start().strip_prefix('=').map(str::trim_start).unwrap_or("");
            let value = value.trim_start_matches(['"', '\'']);
            let end = value
                .find(|ch: char| ch == '"' || ch == '\'' || ch == ';' || ch.is_whitespace())
                .unwrap_or(value.len());
            if let Some(e) = Encoding::for_label(&value.as_bytes()[..end]) {
                return Some(e);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bom_then_valid_utf8_then_the_header_then_meta() {
        let (t, e) = decode("\u{feff}<p>Café</p>".as_bytes(), Some("iso-8859-1"));
        assert_eq!((t.as_ref(), e), ("<p>Café</p>", UTF_8));
        // Valid UTF-8 under a header that lies.
        let (t, e) = decode("<p>Café</p>".as_bytes(), Some("iso-8859-1"));
        assert_eq!((t.as_ref(), e), ("<p>Café</p>", UTF_8));
        let latin1 = b"<meta charset=\"iso-8859-1\"><p>Caf\xe9</p>";
        let (t, _) = decode(latin1, None);
        assert!(t.contains("Café"), "{t}");
        let equiv =
            b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1252\"><p>\x93quoted\x94</p>";
        assert!(decode(equiv, None).0.contains("\u{201c}quoted\u{201d}"));
        // A page that claims UTF-8 but is not: read as windows-1252, nothing lost.
        let (t, e) = decode(b"<meta charset=utf-8><p>Caf\xe9</p>", None);
        assert_eq!((t.contains("Café"), e), (true, WINDOWS_1252));
    }
}
