//! Flags an article with every topic whose query it matches, with the evidence.
//!
//! Matching reads the article's index text, which has its boilerplate lines removed,
//! so a "related news" line cannot flag an unrelated story.

use crate::config::TopicConfig;
use crate::model::{Article, Field, TopicMatch};
use crate::query::Doc;

/// Evidence kept per topic match.
const MAX_EVIDENCE: usize = 20;

/// The topics `article` (from feed `feed`) matches.
pub fn classify(article: &Article, feed: &str, topics: &[TopicConfig]) -> Vec<TopicMatch> {
    if topics.is_empty() {
        return Vec::new();
    }
    let doc = Doc::new(&article.index_title, &article.index_body, article.language.as_deref(), feed);
    topics
        .iter()
        .filter_map(|t| {
            let hits = t.query.matches(&doc)?;
            // Title words count double: a topic in the headline is what the story is about.
            let score = hits.iter().map(|h| if h.field == Field::Title { 2.0 } else { 1.0 }).sum::<f64>();
            Some(TopicMatch { topic: t.name.clone(), score, evidence: doc.evidence(&hits, MAX_EVIDENCE) })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Entry;
    use crate::pipeline::clean::clean;
    use crate::query::Query;

    fn topic(name: &str, q: &str) -> TopicConfig {
        TopicConfig { name: name.into(), query: Query::parse(q).unwrap(), description: None }
    }

    const DIGITAL: &str = r#"(digital* OR siber OR cyber* OR "kecerdasan buatan" OR "artificial intelligence")
        NEAR/15 (cooperat* OR partnership* OR MoU OR "kerja sama" OR kerjasama OR kemitraan OR "nota kesepahaman")"#;

    #[test]
    fn the_seed_article_is_flagged_with_evidence() {
        let seed = include_str!("../../tests/fixtures/seed-article.txt");
        let (title, body) = seed.split_once('\n').unwrap();
        let a = clean(Entry { title: title.into(), content_html: Some(body.into()), ..Entry::default() }, None, None);
        let topics = [topic("digital-cooperation", DIGITAL), topic("health", "kesehatan OR health")];
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
        assert!(classify(&a, "x", &[topic("digital-cooperation", DIGITAL)]).is_empty());
    }
}
