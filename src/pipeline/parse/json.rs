//! JSON Feed 1.0 and 1.1 (with any way of writing its version, `"1.1"` included), and
//! RSS written as JSON (`{"rss": {"channel": {"item": […]}}}`, as Scripting News does).

use chrono_tz::Tz;
use serde_json::Value;
use url::Url;

use super::date::parse_date;
use super::xml::Feed;
use crate::model::Entry;
use crate::pipeline::clean;

/// Reads a JSON document as a feed; `None` when it is JSON but no feed.
pub fn read(text: &str, feed_url: &Url, timezone: Tz) -> Result<Option<Feed>, String> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        // Raw control characters inside strings are the usual mistake: escape them.
        Err(_) => serde_json::from_str(&escape_controls(text)).map_err(|e| format!("not valid JSON: {e}"))?,
    };
    if let Some(channel) = value.get("rss").and_then(|r| r.get("channel")) {
        return Ok(Some(rss_json(channel, feed_url, timezone)));
    }
    let Some(items) = value.get("items").and_then(Value::as_array) else {
        return Ok(None);
    };
    let language = str_of(&value, "language").map(|l| clean::language_code(&l));
    let base = str_of(&value, "home_page_url").and_then(|h| feed_url.join(&h).ok()).unwrap_or_else(|| feed_url.clone());
    let entries = items.iter().map(|item| json_item(item, &base, timezone, language.as_deref())).collect();
    Ok(Some(Feed {
        title: str_of(&value, "title"),
        site_url: str_of(&value, "home_page_url").and_then(|u| web(&base, &u)),
        language,
        ttl: None,
        entries,
        notes: Vec::new(),
    }))
}

fn json_item(item: &Value, base: &Url, timezone: Tz, feed_language: Option<&str>) -> Entry {
    let id = match item.get("id") {
        Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let content_text = str_of(item, "content_text").map(|t| escape_text(&t));
    let mut authors: Vec<String> =
        item.get("authors").and_then(Value::as_array).into_iter().flatten().filter_map(|a| str_of(a, "name")).collect();
    if authors.is_empty()
        && let Some(name) = item.get("author").and_then(|a| str_of(a, "name"))
    {
        authors.push(name);
    }
    let date = |key: &str| str_of(item, key).and_then(|d| parse_date(&d, timezone));
    let updated = date("date_modified");
    let attachments: &[Value] = item.get("attachments").and_then(Value::as_array).map_or(&[], Vec::as_slice);
    Entry {
        guid: id,
        link: ["url", "external_url"]
            .iter()
            .find_map(|k| str_of(item, k).and_then(|u| web(base, &u)))
            .or_else(|| attachments.first().and_then(|a| str_of(a, "url")).and_then(|u| web(base, &u))),
        title: str_of(item, "title").map(|t| t.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap_or_default(),
        summary_html: str_of(item, "summary").map(|s| escape_text(&s)),
        content_html: str_of(item, "content_html").or(content_text),
        authors,
        published: date("date_published").or(updated),
        updated,
        language: str_of(item, "language")
            .map(|l| clean::language_code(&l))
            .or_else(|| feed_language.map(str::to_string)),
    }
}

/// RSS as JSON: the channel's items with RSS's element names as keys.
fn rss_json(channel: &Value, feed_url: &Url, timezone: Tz) -> Feed {
    let items: Vec<&Value> = match channel.get("item") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let language = str_of(channel, "language").map(|l| clean::language_code(&l));
    let entries = items
        .into_iter()
        .map(|item| {
            let guid = match item.get("guid") {
                Some(Value::Object(g)) => {
                    g.get("#value").or_else(|| g.get("value")).and_then(Value::as_str).map(str::to_string)
                }
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            Entry {
                link: str_of(item, "link").and_then(|l| web(feed_url, &l)),
                guid: guid.filter(|g| !g.trim().is_empty()),
                title: str_of(item, "title").map(|t| clean::html_to_text(&t)).unwrap_or_default(),
                summary_html: str_of(item, "description"),
                content_html: None,
                authors: str_of(item, "author").into_iter().collect(),
                published: str_of(item, "pubDate").and_then(|d| parse_date(&d, timezone)),
                updated: None,
                language: language.clone(),
            }
        })
        .collect();
    Feed {
        title: str_of(channel, "title"),
        site_url: str_of(channel, "link").and_then(|l| web(feed_url, &l)),
        language,
        ttl: None,
        entries,
        notes: Vec::new(),
    }
}

/// A string (or number) member, trimmed, non-empty.
fn str_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn web(base: &Url, href: &str) -> Option<String> {
    let url: String = base.join(href.trim()).ok()?.into();
    crate::model::is_web_url(&url).then_some(url)
}

fn escape_text(s: &str) -> String {
    quick_xml::escape::partial_escape(s).into_owned()
}

/// The text with control characters inside strings written as `\u00XX`.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else if (c as u32) < 0x20 {
                out.push_str(&format!("\\u{:04x}", c as u32));
                continue;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_version_spelling_and_raw_controls() {
        let url = Url::parse("https://e.org/feed.json").unwrap();
        for version in ["https://jsonfeed.org/version/1.1", "http://jsonfeed.org/version/1", "1.1", "1"] {
            let doc = format!(
                r#"{{"version": "{version}", "title": "T", "items": [{{"id": 7, "title": "A\tb", "url": "/a",
                    "content_text": "x < y", "date_published": "2025-01-26T10:00:00Z"}}]}}"#
            );
            let f = read(&doc, &url, Tz::UTC).unwrap().unwrap();
            let e = &f.entries[0];
            assert_eq!((e.guid.as_deref(), e.title.as_str()), (Some("7"), "A b"), "{version}");
            assert_eq!(e.link.as_deref(), Some("https://e.org/a"));
            assert_eq!(e.content_html.as_deref(), Some("x &lt; y"));
            assert!(e.published.is_some());
        }
        let raw = "{\"version\": \"1\", \"items\": [{\"id\": \"1\", \"title\": \"line\nbreak\"}]}";
        assert_eq!(read(raw, &url, Tz::UTC).unwrap().unwrap().entries[0].title, "line break");
        assert!(read("{\"hello\": 1}", &url, Tz::UTC).unwrap().is_none());
    }
}
