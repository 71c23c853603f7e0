//! An XML document as a small tree of elements and text, read leniently: namespace
//! prefixes resolved (and the common ones understood even when undeclared), end tags
//! that do not match tolerated the way HTML parsers tolerate them, entities decoded
//! once (the five of XML, character references, and HTML's named ones, which feeds
//! use in XML all the time), and never expanded from a DTD.
//!
//! Entries past the cap are not built at all: an `item` or `entry` element after the
//! `max_entries`-th is skipped and counted, so a document of 200,000 entries costs the
//! memory of the first thousand.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

/// An element: its namespace (the URI, "" when none), local name, attributes and
/// children in document order.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Child>,
}

#[derive(Debug, Clone)]
pub struct Attr {
    pub ns: String,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub enum Child {
    Node(Node),
    Text(String),
}

/// Levels of elements built: the tree and every walk over it recurse, so a document of
/// 100,000 nested elements must not become 100,000 levels (deeper ones are read as text).
pub const MAX_DEPTH: usize = 256;

/// Namespaces feeds use, by the prefix they are usually bound to: an undeclared
/// `dc:date` still means Dublin Core's date.
const USUAL_PREFIXES: &[(&str, &str)] = &[
    ("dc", "http://purl.org/dc/elements/1.1/"),
    ("dcterms", "http://purl.org/dc/terms/"),
    ("content", "http://purl.org/rss/1.0/modules/content/"),
    ("atom", "http://www.w3.org/2005/Atom"),
    ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
    ("xhtml", "http://www.w3.org/1999/xhtml"),
    ("media", "http://search.yahoo.com/mrss/"),
    ("itunes", "http://www.itunes.com/dtds/podcast-1.0.dtd"),
    ("xml", "http://www.w3.org/XML/1998/namespace"),
];

/// Why a document is not a tree.
#[derive(Debug)]
pub struct Malformed(pub String);

/// A document read.
#[derive(Debug)]
pub struct Document {
    pub root: Node,
    /// `item` and `entry` elements seen (not counting those inside another).
    pub entry_elements: usize,
    /// Of those, the ones past the cap, skipped unbuilt.
    pub skipped: usize,
}

/// The document's root element, with at most `max_entries` entry elements built.
pub fn read(text: &str, max_entries: usize) -> Result<Document, Malformed> {
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;
    config.expand_empty_elements = false;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let (mut entries, mut skipped, mut too_deep) = (0usize, 0usize, 0usize);
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(|e| Malformed(e.to_string()))?;
        let ns = namespace(&resolved);
        match event {
            Event::Start(e) | Event::Empty(e) if root.is_some() && stack.is_empty() => {
                // Content after the root element: ignored, as a browser would.
                let _ = e;
            }
            Event::Start(e) => {
                if is_entry(&e) && !inside_entry(&stack) {
                    entries += 1;
                    if entries > max_entries {
                        skipped += 1;
                        skip_element(&mut reader)?;
                        continue;
                    }
                }
                if stack.len() >= MAX_DEPTH {
                    // Deeper than any feed: the element's text joins its ancestor's.
                    too_deep += 1;
                    continue;
                }
                stack.push(element(&reader, ns, &e));
            }
            Event::Empty(e) => {
                if is_entry(&e) && !inside_entry(&stack) {
                    entries += 1;
                    if entries > max_entries {
                        skipped += 1;
                        continue;
                    }
                }
                let node = element(&reader, ns, &e);
                attach(&mut stack, &mut root, node);
            }
            Event::End(_) if too_deep > 0 => too_deep -= 1,
            Event::End(e) => {
                let name = e.local_name().into_inner().to_string();
                // Close up to the matching open element; an end tag matching none is ignored.
                if let Some(at) = stack.iter().rposition(|n| n.name == name) {
                    while stack.len() > at {
                        let node = stack.pop().expect("non-empty");
                        attach(&mut stack, &mut root, node);
                    }
                }
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content()),
            Event::CData(c) => push_text(&mut stack, &c.into_inner()),
            Event::GeneralRef(r) => {
                let name: &str = &r;
                let resolved = entity(name).unwrap_or_else(|| format!("&{name};"));
                push_text(&mut stack, &resolved);
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    // A document whose last container end tags are missing (`</channel></rss>`) but
    // whose entries are all whole is read; one cut anywhere else is not.
    let containers = ["rss", "rdf", "channel", "feed"];
    let cut = stack.iter().any(|n| !containers.contains(&n.name.to_ascii_lowercase().as_str()))
        || stack.last().is_some_and(|n| matches!(n.children.last(), Some(Child::Text(t)) if !t.trim().is_empty()));
    if cut {
        let open = stack.last().map(|n| n.name.clone()).unwrap_or_default();
        return Err(Malformed(format!("the document ends inside <{open}> (it was cut off)")));
    }
    while let Some(node) = stack.pop() {
        attach(&mut stack, &mut root, node);
    }
    let root = root.ok_or_else(|| Malformed("no root element".to_string()))?;
    Ok(Document { root, entry_elements: entries, skipped })
}

fn namespace(resolved: &ResolveResult) -> String {
    match resolved {
        ResolveResult::Bound(ns) => ns.into_inner().to_string(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(prefix) => {
            USUAL_PREFIXES.iter().find(|(p, _)| p == prefix).map(|(_, uri)| uri.to_string()).unwrap_or_default()
        }
    }
}

fn is_entry(e: &BytesStart) -> bool {
    matches!(e.local_name().into_inner(), "item" | "entry")
}

fn inside_entry(stack: &[Node]) -> bool {
    stack.iter().any(|n| n.name == "item" || n.name == "entry")
}

/// Reads past the end of the element just started, keeping nothing.
fn skip_element(reader: &mut NsReader<&[u8]>) -> Result<(), Malformed> {
    let mut depth = 1usize;
    while depth > 0 {
        match reader.read_event().map_err(|e| Malformed(e.to_string()))? {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth -= 1,
            Event::Eof => return Err(Malformed("the document ends inside an entry (it was cut off)".into())),
            _ => {}
        }
    }
    Ok(())
}

fn element(reader: &NsReader<&[u8]>, ns: String, e: &BytesStart) -> Node {
    let name = e.local_name().into_inner().to_string();
    let mut attrs = Vec::new();
    for a in e.html_attributes().flatten() {
        let (resolved, local) = reader.resolver().resolve_attribute(a.key);
        let key = a.key.into_inner();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let ns = if key.starts_with("xml:") {
            "http://www.w3.org/XML/1998/namespace".to_string()
        } else {
            namespace(&resolved)
        };
        attrs.push(Attr { ns, name: local.into_inner().to_string(), value: unescape(&a.value) });
    }
    Node { ns, name, attrs, children: Vec::new() }
}

fn attach(stack: &mut [Node], root: &mut Option<Node>, node: Node) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Child::Node(node)),
        None => {
            if root.is_none() {
                *root = Some(node);
            }
        }
    }
}

fn push_text(stack: &mut [Node], text: &str) {
    let Some(parent) = stack.last_mut() else { return };
    match parent.children.last_mut() {
        Some(Child::Text(t)) => t.push_str(text),
        _ => parent.children.push(Child::Text(text.to_string())),
    }
}

/// A named or numeric reference decoded: XML's five, `&#…;` and `&#x…;`, and HTML's
/// named entities; `None` for a name nobody defines.
pub fn entity(name: &str) -> Option<String> {
    match name {
        "amp" => return Some("&".into()),
        "lt" => return Some("<".into()),
        "gt" => return Some(">".into()),
        "quot" => return Some("\"".into()),
        "apos" => return Some("'".into()),
        _ => {}
    }
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0').map(String::from);
    }
    if name.is_empty() || name.len() > 32 || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    crate::pipeline::clean::html_entity(name)
}

/// Decodes the references in raw attribute or text content (see [`entity`]); an
/// unknown one stays as written.
pub fn unescape(raw: &str) -> String {
    if !raw.contains('&') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match after.find(';').filter(|&end| end <= 33).and_then(|end| Some((end, entity(&after[..end])?))) {
            Some((end, decoded)) => {
                out.push_str(&decoded);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl Node {
    /// Whether this element is `name` in one of `namespaces` ("" for none).
    pub fn is(&self, namespaces: &[&str], name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name) && namespaces.contains(&self.ns.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Node> {
        self.children.iter().filter_map(|c| match c {
            Child::Node(n) => Some(n),
            Child::Text(_) => None,
        })
    }

    /// The first child element `name` in one of `namespaces`.
    pub fn child(&self, namespaces: &[&str], name: &str) -> Option<&Node> {
        self.elements().find(|n| n.is(namespaces, name))
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name) && a.ns.is_empty()).map(|a| a.value.as_str())
    }

    /// An attribute in a namespace (`xml:base`, `rdf:about`).
    pub fn attr_ns(&self, ns: &str, name: &str) -> Option<&str> {
        self.attrs.iter().find(|a| a.name == name && a.ns == ns).map(|a| a.value.as_str())
    }

    /// All the text inside, markup dropped.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out
    }

    fn collect_text(&self, out: &mut String) {
        for c in &self.children {
            match c {
                Child::Text(t) => out.push_str(t),
                Child::Node(n) => n.collect_text(out),
            }
        }
    }

    /// The content as markup: text escaped, child elements written back as tags (by
    /// their local names, so `xhtml:p` becomes `<p>`).
    pub fn inner_markup(&self) -> String {
        let mut out = String::new();
        for c in &self.children {
            write_child(c, &mut out);
        }
        out
    }

    /// Whether it holds elements, not only text.
    pub fn has_elements(&self) -> bool {
        self.elements().next().is_some()
    }
}

fn write_child(child: &Child, out: &mut String) {
    match child {
        Child::Text(t) => escape_into(t, out),
        Child::Node(n) => {
            out.push('<');
            out.push_str(&n.name);
            for a in &n.attrs {
                out.push(' ');
                out.push_str(&a.name);
                out.push_str("=\"");
                escape_into(&a.value, out);
                out.push('"');
            }
            if n.children.is_empty() {
                out.push_str("/>");
                return;
            }
            out.push('>');
            for c in &n.children {
                write_child(c, out);
            }
            out.push_str("</");
            out.push_str(&n.name);
            out.push('>');
        }
    }
}

fn escape_into(s: &str, out: &mut String) {
    out.push_str(&quick_xml::escape::escape(s));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_prefixes_and_mismatched_ends() {
        let Document { root, skipped, .. } = read(
            r#"<rss><channel><item><title>Caf&eacute; &amp;amp; &#x263A; &nosuch;</title>
               <dc:date>2003-06-10</dc:date><p>a<b>b</p></item></channel></rss>"#,
            10,
        )
        .unwrap();
        assert_eq!(skipped, 0);
        let item = root.child(&[""], "channel").unwrap().child(&[""], "item").unwrap();
        assert_eq!(item.child(&[""], "title").unwrap().text(), "Café &amp; ☺ &nosuch;");
        let date = item.child(&["http://purl.org/dc/elements/1.1/"], "date").unwrap();
        assert_eq!(date.text(), "2003-06-10");
        assert_eq!(item.child(&[""], "p").unwrap().text(), "ab");
        assert_eq!(unescape("a &lt;b&gt; &unknown; & c"), "a <b> &unknown; & c");
    }

    #[test]
    fn entries_past_the_cap_are_counted_not_built() {
        let doc = format!("<rss><channel>{}</channel></rss>", "<item><title>x</title></item>".repeat(50));
        let Document { root, skipped, entry_elements } = read(&doc, 10).unwrap();
        assert_eq!(entry_elements, 50);
        assert_eq!(root.child(&[""], "channel").unwrap().elements().count(), 10);
        assert_eq!(skipped, 40);
    }

    #[test]
    fn nesting_past_the_limit_is_read_as_text() {
        let nested = |n: usize| {
            format!(
                "<rss><channel><item><title>t</title><description>{}deep text{}</description></item></channel></rss>",
                "<div>".repeat(n),
                "</div>".repeat(n)
            )
        };
        let doc = read(&nested(60_000), 10).unwrap();
        let item = doc.root.child(&[""], "channel").unwrap().child(&[""], "item").unwrap();
        assert_eq!(item.child(&[""], "description").unwrap().text(), "deep text");
        assert!(item.child(&[""], "title").is_some());
        // Past the XML reader's own limit (65,535 levels): a clear error.
        assert!(read(&nested(100_000), 10).unwrap_err().0.contains("deeper than"));
    }

    #[test]
    fn a_cut_document_is_malformed() {
        assert!(read("<rss><channel><item><title>x</title>", 10).is_err());
        assert!(read("<rss><channel><title>A feed ti", 10).is_err());
        assert!(read("", 10).is_err());
        // Only the containers' end tags missing: the whole entries are read.
        let doc = read("<rss><channel><item><title>x</title></item>\n", 10).unwrap();
        assert_eq!(doc.root.child(&[""], "channel").unwrap().elements().count(), 1);
    }
}
