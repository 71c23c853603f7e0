//! OPML in and out: subscription lists from other readers become `[[feeds]]` entries,
//! and the configured feeds become an OPML file other readers import.

use std::collections::HashSet;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::config::FeedConfig;

/// One subscription of an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub title: String,
    pub url: String,
    /// The titles of the folders it sits in.
    pub folders: Vec<String>,
}

/// The subscriptions in an OPML document (outlines with an `xmlUrl`), in order.
pub fn read(text: &str) -> Result<Vec<Subscription>, String> {
    let mut reader = Reader::from_str(text);
    let mut out = Vec::new();
    let mut folders: Vec<Option<String>> = Vec::new();
    let mut saw_opml = false;
    loop {
        let event = reader.read_event().map_err(|e| format!("not OPML: {e} (at byte {})", reader.buffer_position()))?;
        match event {
            Event::Start(e) | Event::Empty(e) if e.name().into_inner() == "opml" => {
                let _ = e;
                saw_opml = true;
            }
            Event::Start(e) if e.name().into_inner() == "outline" => {
                let attrs = attributes(&e);
                match attrs.url {
                    Some(url) => {
                        out.push(subscription(attrs.title, url, &folders));
                        folders.push(None);
                    }
                    None => folders.push(attrs.title),
                }
            }
            Event::Empty(e) if e.name().into_inner() == "outline" => {
                let attrs = attributes(&e);
                if let Some(url) = attrs.url {
                    out.push(subscription(attrs.title, url, &folders));
                }
            }
            Event::End(e) if e.name().into_inner() == "outline" => {
                folders.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_opml {
        return Err("not OPML: no <opml> element".to_string());
    }
    Ok(out)
}

struct Attrs {
    title: Option<String>,
    url: Option<String>,
}

fn attributes(e: &quick_xml::events::BytesStart) -> Attrs {
    let mut title = None;
    let mut text = None;
    let mut url = None;
    for a in e.attributes().flatten() {
        let value =
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map(|v| v.trim().to_string()).unwrap_or_default();
        if value.is_empty() {
            continue;
        }
        match a.key.into_inner() {
            "title" => title = Some(value),
            "text" => text = Some(value),
            "xmlUrl" | "xmlurl" => url = Some(value),
            _ => {}
        }
    }
    Attrs { title: title.or(text), url }
}

fn subscription(title: Option<String>, url: String, folders: &[Option<String>]) -> Subscription {
    Subscription {
        title: title.unwrap_or_else(|| url.clone()),
        url,
        folders: folders.iter().flatten().cloned().collect(),
    }
}

/// A feed name from a title: lower case letters, digits and '-', at most 40 characters.
pub fn slug(title: &str) -> String {
    let folded = crate::text::fold(title);
    let mut out = String::new();
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out.trim_end_matches('-').chars().take(40).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "feed".to_string() } else { out }
}

/// `[[feeds]]` TOML for the subscriptions not configured yet (by URL), with names
/// unique among themselves and the configured ones. Returns the text and how many
/// subscriptions were already configured.
pub fn to_toml(subs: &[Subscription], configured: &[FeedConfig]) -> (String, usize) {
    let mut names: HashSet<String> = configured.iter().map(|f| f.name.clone()).collect();
    let mut urls: HashSet<String> = configured.iter().map(|f| f.url.to_string()).collect();
    let mut out = String::new();
    let mut skipped = 0;
    for s in subs {
        let normalised = url::Url::parse(&s.url).map(|u| u.to_string()).unwrap_or_else(|_| s.url.clone());
        // Configured already, or listed twice in the export (in two folders, say).
        if !urls.insert(normalised) {
            skipped += 1;
            continue;
        }
        let base = slug(&s.title);
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        names.insert(name.clone());
        out.push_str(&format!(
            "\n[[feeds]]\n# {}\nname = {}\nurl = {}\n",
            one_line(&s.title),
            toml_string(&name),
            toml_string(&s.url)
        ));
        if !s.folders.is_empty() {
            let tags: Vec<String> = s.folders.iter().map(|f| toml_string(f)).collect();
            out.push_str(&format!("tags = [{}]\n", tags.join(", ")));
        }
    }
    (out, skipped)
}

fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// An OPML 2.0 document of the configured feeds, grouped by their first tag.
pub fn write(feeds: &[FeedConfig]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n    <title>kabar feeds</title>\n  </head>\n  <body>\n",
    );
    let outline = |f: &FeedConfig, indent: &str| {
        format!(
            "{indent}<outline type=\"rss\" text=\"{name}\" title=\"{name}\" xmlUrl=\"{url}\"/>\n",
            name = escape(&f.name),
            url = escape(f.url.as_str())
        )
    };
    let mut folders: Vec<&str> = feeds.iter().filter_map(|f| f.tags.first().map(String::as_str)).collect();
    folders.sort_unstable();
    folders.dedup();
    for folder in &folders {
        out.push_str(&format!("    <outline text=\"{}\">\n", escape(folder)));
        for f in feeds.iter().filter(|f| f.tags.first().map(String::as_str) == Some(folder)) {
            out.push_str(&outline(f, "      "));
        }
        out.push_str("    </outline>\n");
    }
    for f in feeds.iter().filter(|f| f.tags.is_empty()) {
        out.push_str(&outline(f, "    "));
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_outlines_become_feeds_with_folder_tags() {
        let opml = r#"<?xml version="1.0"?><opml version="2.0"><head/><body>
            <outline text="Indonesia"><outline text="ANTARA &amp; Co" type="rss" xmlUrl="https://a.example/rss"/>
              <outline title="Tempo" xmlUrl="https://t.example/rss"></outline></outline>
            <outline text="Loose" xmlUrl="https://l.example/feed"/></body></opml>"#;
        let subs = read(opml).unwrap();
        assert_eq!(subs.len(), 3);
        assert_eq!(
            subs[0],
            Subscription {
                title: "ANTARA & Co".into(),
                url: "https://a.example/rss".into(),
                folders: vec!["Indonesia".into()]
            }
        );
        assert_eq!(subs[2].folders, Vec::<String>::new());
        let (toml, skipped) = to_toml(&subs, &[]);
        assert_eq!(skipped, 0);
        assert!(toml.contains("name = \"antara-co\"") && toml.contains("tags = [\"Indonesia\"]"), "{toml}");
        assert!(read("<rss/>").is_err());
    }

    #[test]
    fn slugs_are_names() {
        assert_eq!(slug("Café Müller — Nachrichten!"), "cafe-muller-nachrichten");
        assert_eq!(slug("★★★"), "feed");
    }
}
