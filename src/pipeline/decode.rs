//! Feed bytes → UTF-8 text, before `parse`.
//!
//! An XML parser fails on UTF-16 and silently drops a Latin-1 title declared UTF-8, so
//! kabar decodes first and hands `parse` UTF-8 with the declaration rewritten to match:
//!
//! 1. a byte-order mark decides (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE);
//! 2. without one, the first bytes show UTF-16/32 (`<` followed or preceded by NULs);
//! 3. bytes that are valid UTF-8 are UTF-8, whatever is declared (a legacy encoding
//!    almost never produces valid multi-byte UTF-8);
//! 4. otherwise the encoding the XML prolog declares, then the HTTP charset;
//! 5. otherwise windows-1252 (which every byte decodes in), with a warning.
//!
//! Whenever the result differs from what the document or server declared, the feed
//! gets an `encoding` warning saying so; nothing is dropped silently.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// The document as UTF-8, and a warning when its encoding was not what it declared.
#[derive(Debug, PartialEq)]
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    pub warning: Option<String>,
}

/// Decodes `bytes`; `charset` is the HTTP Content-Type's charset parameter, if any.
pub fn decode<'a>(bytes: &'a [u8], charset: Option<&str>) -> Decoded<'a> {
    if let Some((text, name)) = by_byte_order(bytes) {
        let declared = declared_encoding(&text);
        let warning = declared
            .filter(|d| !same_family(d, name))
            .map(|d| format!("the document declares {d} but is {name} (by its byte-order mark)"));
        return Decoded { text: Cow::Owned(with_utf8_declaration(&text)), warning };
    }
    let ascii_view = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]);
    let declared = declared_encoding(&ascii_view);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let non_ascii = !text.is_ascii();
        let claimed = declared.as_deref().or(charset).filter(|c| !is_utf8(c));
        let warning = claimed
            .filter(|_| non_ascii)
            .map(|c| format!("the document is declared {c} but its bytes are UTF-8; read as UTF-8"));
        let text = if declared.as_deref().is_some_and(|d| !is_utf8(d)) {
            Cow::Owned(with_utf8_declaration(text))
        } else {
            Cow::Borrowed(text)
        };
        return Decoded { text, warning };
    }
    for (label, source) in [(declared.as_deref(), "the document"), (charset, "the server")] {
        let Some(label) = label else { continue };
        let Some(encoding) = Encoding::for_label(label.trim().as_bytes()) else { continue };
        if encoding == UTF_8 {
            continue;
        }
        let (text, _, had_errors) = encoding.decode(bytes);
        if !had_errors {
            let warning = (source == "the server" && declared.is_some())
                .then(|| format!("read as {} as the server says, not as the document declares", encoding.name()));
            return Decoded { text: Cow::Owned(with_utf8_declaration(&text)), warning };
        }
    }
    let (text, _, _) = WINDOWS_1252.decode(bytes);
    let what = declared.as_deref().or(charset).unwrap_or("UTF-8 (by default)");
    Decoded {
        text: Cow::Owned(with_utf8_declaration(&text)),
        warning: Some(format!("the document is declared {what} but its bytes are not; read as windows-1252")),
    }
}

/// UTF-8/16/32 by byte-order mark or by the NULs around the first `<`.
fn by_byte_order(bytes: &[u8]) -> Option<(String, &'static str)> {
    let utf16 = |b: &[u8], enc: &'static Encoding| enc.decode_without_bom_handling(b).0.into_owned();
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => Some((String::from_utf8_lossy(rest).into_owned(), "UTF-8")),
        [0xFF, 0xFE, 0, 0, rest @ ..] => Some((utf32(rest, false), "UTF-32LE")),
        [0, 0, 0xFE, 0xFF, rest @ ..] => Some((utf32(rest, true), "UTF-32BE")),
        [0xFF, 0xFE, rest @ ..] => Some((utf16(rest, UTF_16LE), "UTF-16LE")),
        [0xFE, 0xFF, rest @ ..] => Some((utf16(rest, UTF_16BE), "UTF-16BE")),
        [0, 0, 0, b'<', ..] => Some((utf32(bytes, true), "UTF-32BE")),
        [b'<', 0, 0, 0, ..] => Some((utf32(bytes, false), "UTF-32LE")),
        [0, b'<', 0, _, ..] => Some((utf16(bytes, UTF_16BE), "UTF-16BE")),
        [b'<', 0, _, 0, ..] => Some((utf16(bytes, UTF_16LE), "UTF-16LE")),
        _ => None,
    }
}

fn utf32(bytes: &[u8], big_endian: bool) -> String {
    bytes
        .chunks_exact(4)
        .map(|c| {
            let n = if big_endian {
                u32::from_be_bytes([c[0], c[1], c[2], c[3]])
            } else {
                u32::from_le_bytes([c[0], c[1], c[2], c[3]])
            };
            char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .collect()
}

fn is_utf8(label: &str) -> bool {
    matches!(label.trim().to_ascii_lowercase().as_str(), "utf-8" | "utf8" | "unicode-1-1-utf-8")
}

fn same_family(declared: &str, actual: &str) -> bool {
    let d = declared.trim().to_ascii_lowercase().replace('-', "");
    let a = actual.to_ascii_lowercase().replace('-', "");
    a.starts_with(&d)
        || d.starts_with(&a)
        || (d == "utf16" && a.starts_with("utf16"))
        || (d == "utf32" && a.starts_with("utf32"))
}

/// The `encoding` of the XML declaration at the start, if any.
fn declared_encoding(text: &str) -> Option<String> {
    let start = text.trim_start_matches('\u{feff}').trim_start();
    let decl = start.strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let value = &rest[1..];
    Some(value[..value.find(quote)?].to_string())
}

/// `text` with its XML declaration saying UTF-8 (it is UTF-8 now).
fn with_utf8_declaration(text: &str) -> String {
    let offset = text.len() - text.trim_start_matches('\u{feff}').trim_start().len();
    let start = &text[offset..];
    let Some(decl_end) = start.strip_prefix("<?xml").and_then(|d| d.find("?>")).map(|e| e + "<?xml".len()) else {
        return text.trim_start_matches('\u{feff}').to_string();
    };
    let decl = &start[..decl_end];
    let Some(at) = decl.find("encoding") else {
        return text[offset..].to_string();
    };
    let after = &decl[at + "encoding".len()..];
    let Some(eq) = after.find('=') else { return text[offset..].to_string() };
    let value_start = after[eq + 1..].find(['"', '\'']).map(|q| at + "encoding".len() + eq + 1 + q);
    let Some(q) = value_start else { return text[offset..].to_string() };
    let quote = &decl[q..q + 1];
    let Some(len) = decl[q + 1..].find(quote) else { return text[offset..].to_string() };
    format!("{}UTF-8{}", &start[..q + 1], &start[q + 1 + len..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = "<?xml version=\"1.0\" encoding=\"ENC\"?><rss><channel><title>café</title></channel></rss>";

    fn doc(enc: &str) -> String {
        XML.replace("ENC", enc)
    }

    fn utf16(s: &str, big: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend(if big { [0xFE, 0xFF] } else { [0xFF, 0xFE] });
        }
        for u in s.encode_utf16() {
            out.extend(if big { u.to_be_bytes() } else { u.to_le_bytes() });
        }
        out
    }

    fn title_survives<'a>(bytes: &'a [u8], charset: Option<&str>) -> Decoded<'a> {
        let d = decode(bytes, charset);
        assert!(d.text.contains("<title>café</title>"), "{:?}", d.text);
        assert!(d.text.contains("encoding=\"UTF-8\"") || !d.text.contains("encoding"), "{:?}", d.text);
        d
    }

    #[test]
    fn cafe_survives_every_encoding_trap() {
        // UTF-8, as declared.
        assert_eq!(title_survives(doc("UTF-8").as_bytes(), None).warning, None);
        // Latin-1 bytes declared UTF-8: read as windows-1252, with a warning.
        let latin1: Vec<u8> = doc("UTF-8").chars().map(|c| c as u32 as u8).collect();
        assert!(title_survives(&latin1, None).warning.unwrap().contains("windows-1252"));
        // Declared correctly as ISO-8859-1.
        let declared: Vec<u8> = doc("ISO-8859-1").chars().map(|c| c as u32 as u8).collect();
        assert_eq!(title_survives(&declared, Some("utf-8")).warning, None);
        // UTF-16 with a byte-order mark, both orders, and without one.
        title_survives(&utf16(&doc("UTF-16"), false, true), None);
        title_survives(&utf16(&doc("UTF-16"), true, true), None);
        title_survives(&utf16(&doc("UTF-16"), false, false), None);
        // UTF-8 bytes under a legacy declaration: the bytes win, with a warning.
        let w = title_survives(doc("windows-1252").as_bytes(), Some("iso-8859-1")).warning;
        assert!(w.unwrap().contains("bytes are UTF-8"));
        // The server's charset helps when the document says nothing and is not UTF-8.
        let plain: Vec<u8> = XML.replace(" encoding=\"ENC\"", "").chars().map(|c| c as u32 as u8).collect();
        let d = decode(&plain, Some("iso-8859-1"));
        assert!(d.text.contains("café"), "{:?}", d.text);
        // A BOM that contradicts the declaration is noted.
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(doc("ISO-8859-1").as_bytes());
        assert!(title_survives(&bom, None).warning.unwrap().contains("byte-order mark"));
    }

    #[test]
    fn legacy_encodings_decode() {
        let text = doc("windows-1251").replace("café", "Привет");
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&text);
        let d = decode(&bytes, None);
        assert!(d.text.contains("Привет"), "{:?}", d.text);
        assert_eq!(d.warning, None);
    }
}
