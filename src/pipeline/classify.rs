//! Flags an article with every topic whose query it matches, with the evidence.
//!
//! Matching reads the article's index text, which has its boilerplate lines removed,
//! so a "related news" line cannot flag an unrelated story.

use crate::model::{Article, Field, TopicMatch};
use crate::query::{Doc, Matcher, Query};

/// Evidence kept per topic match.
const MAX_EVIDENCE: usize = 20;

/// The configured topics, compiled into one matcher.
#[derive(Default)]
pub struct Topics {
    names: Vec<String>,
    matcher: Matcher,
}

impl Topics {
    /// Topics from their names and queries, in order.
    pub fn new<'a>(topics: impl IntoIterator<Item = (&'a str, &'a Query)>) -> Topics {
        let (names, queries): (Vec<&str>, Vec<&Query>) = topics.into_iter().unzip();
        Topics {
            names: names.into_iter().map(str::to_string).collect(),
            matcher: Matcher::new(queries.iter().map(|q| &q.expr)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The topics `article` (from feed `feed`) matches.
pub fn classify(article: &Article, feed: &str, topics: &Topics) -> Vec<TopicMatch> {
    if topics.is_empty() {
        return Vec::new();
    }
    let doc = Doc::from_tokens(&article.index_title, &article.index_body, article.language.as_deref(), feed);
    classify_doc(&doc, topics)
}

/// The topics a prepared article matches (for articles read back from the store).
pub fn classify_doc(doc: &Doc, topics: &Topics) -> Vec<TopicMatch> {
    topics
        .matcher
        .matches(doc)
        .into_iter()
        .map(|(i, hits)| {
            // Title words count double: a topic in the headline is what the story is about.
            let score = hits.iter().map(|h| if h.field == Field::Title { 2.0 } else { 1.0 }).sum::<f64>();
            TopicMatch { topic: topics.names[i].clone(), score, evidence: doc.evidence(&hits, MAX_EVIDENCE) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Entry;
    use crate::pipeline::clean::clean;

    fn topics(list: &[(&str, &str)]) -> Topics {
        let queries: Vec<(&str, Query)> = list.iter().map(|(n, q)| (*n, Query::parse(q).unwrap())).collect();
        Topics::new(queries.iter().map(|(n, q)| (*n, q)))
    }

    const DIGITAL: &str = r#"(digital* OR siber OR cyber* OR "kecerdasan buatan" OR "artificial intelligence")
        NEAR/15 (cooperat* OR partnership* OR MoU OR "kerja sama" OR kerjasama OR kemitraan OR "nota kesepahaman")"#;

    #[test]
    fn the_seed_article_is_flagged_with_evidence() {
        let seed = include_str!("../../tests/fixtures/seed-article.txt");
        let (title, body) = seed.split_once('\n').unwrap();
        let a = clean(Entry { title: title.into(), content_html: Some(body.into()), ..Entry::default() }, None, None);
        let topics = topics(&[("digital-cooperation", DIGITAL), ("health", "kesehatan OR health")]);
        let m = classify(&a, "antara-id", &topics);
        assert_eq!(m.len(), 1, "{m:#?}");
        assert_eq!(m[0].topic, "digital-cooperation");
        assert!(m[0].evidence.iter().any(|e| e.term == "digital" && e.field == Field::Title));
        assert!(m[0].evidence.iter().any(|e| e.term == "kerjasama"));
    }

    #[test]
    fn a_related_news_line_cannot_flag_an_unrelated_story() {
        let a = clean(
            Entry {
                title: "Harga cabai naik menjelang Lebaran".into(),
                content_html: Some(
                    "<p>Harga cabai rawit di pasar induk naik dua kali lipat pekan ini.</p>\
                     <p>Baca juga: Indonesia dan India teken kerja sama digital</p>"
                        .into(),
                ),
                ..Entry::default()
            },
            None,
            None,
        );
        assert!(classify(&a, "x", &topics(&[("digital-cooperation", DIGITAL)])).is_empty());
    }
}
