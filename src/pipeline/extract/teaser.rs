//! When an entry's own text is a teaser, so `full_text = "auto"` fetches the page:
//!
//! * **cut off**: the text ends in an ellipsis ("…", "...", "[…]") or a "read more"
//!   link ("Read more", "Continue reading", "Selengkapnya", "Baca selengkapnya");
//! * **short**: fewer than [`SHORT_WORDS`] words once boilerplate is left out (a news
//!   article runs to several hundred; a description to one or two sentences);
//! * **only a lead**: a single paragraph of fewer than [`LEAD_WORDS`] words.
//!
//! An entry with no link has no page to fetch and is never a teaser.

use crate::model::Article;
use crate::text;

/// Fewer words than this is a teaser, whatever its shape.
pub const SHORT_WORDS: usize = 80;
/// A single paragraph of fewer words than this is only the lead.
pub const LEAD_WORDS: usize = 150;

/// When an entry's page is fetched for its full text (`full_text` in the configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FullText {
    /// When the entry's own text is a [`teaser`].
    Auto,
    /// For every entry with a link.
    Always,
    /// Never: the feed's text is the article.
    #[default]
    Never,
}

impl FullText {
    /// Whether `article`'s page should be fetched.
    pub fn wants_page(self, article: &Article) -> bool {
        match self {
            FullText::Never => false,
            FullText::Always => article.entry.link.is_some(),
            FullText::Auto => teaser(article).is_some(),
        }
    }

    pub fn parse(s: &str) -> Option<FullText> {
        match s {
            "auto" => Some(FullText::Auto),
            "always" => Some(FullText::Always),
            "never" => Some(FullText::Never),
            _ => None,
        }
    }
}

/// Why an article's text is a teaser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teaser {
    CutOff,
    Short,
    LeadOnly,
}

/// Endings that say the text goes on elsewhere (compared in lower case, after
/// trimming spaces and closing punctuation).
const MORE: &[&str] = &[
    "read more",
    "continue reading",
    "keep reading",
    "read the full story",
    "read the rest",
    "selengkapnya",
    "baca selengkapnya",
    "lanjut baca",
    "baca lebih lanjut",
];

/// Whether `article`'s text is a teaser, and why.
pub fn teaser(article: &Article) -> Option<Teaser> {
    article.entry.link.as_ref()?;
    let tail: String = article.text.trim_end().chars().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
    let end = tail
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ')' | ']' | '»' | '›' | '>' | '.' | ':' | '→'));
    let lower = end.to_lowercase();
    let ellipsis = tail.trim_end().ends_with('…')
        || tail.trim_end().ends_with("...")
        || tail.trim_end().ends_with("[…]")
        || tail.trim_end().ends_with("[...]");
    if ellipsis || MORE.iter().any(|m| lower.ends_with(m)) {
        return Some(Teaser::CutOff);
    }
    let words = text::split_tokens(&article.index_body).count();
    if words < SHORT_WORDS {
        return Some(Teaser::Short);
    }
    let paragraphs = article.text.lines().filter(|l| !l.trim().is_empty()).count();
    (paragraphs <= 1 && words < LEAD_WORDS).then_some(Teaser::LeadOnly)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Entry;
    use crate::pipeline::clean::clean;

    fn article(html: &str) -> Article {
        clean(
            Entry {
                title: "T".into(),
                link: Some("https://a.example/1".into()),
                summary_html: Some(html.into()),
                ..Entry::default()
            },
            Some("en"),
            None,
        )
    }

    #[test]
    fn cut_off_short_and_lead_only_texts_are_teasers() {
        let long = "<p>".to_string()
            + &"The minister said the agreement covers data centres and training. ".repeat(20)
            + "</p>";
        let two = format!("{long}{long}");
        assert_eq!(teaser(&article(&two)), None);
        assert_eq!(teaser(&article(&format!("{two}<p>The rest [&#8230;]</p>"))), Some(Teaser::CutOff));
        assert_eq!(teaser(&article(&format!("{two}<p><a href=x>Read more »</a></p>"))), Some(Teaser::CutOff));
        assert_eq!(teaser(&article(&format!("{two}<p>Baca selengkapnya</p>"))), Some(Teaser::CutOff));
        assert_eq!(
            teaser(&article("<p>Pemerintah Indonesia dan India membentuk kerja sama digital.</p>")),
            Some(Teaser::Short)
        );
        let lead = "<p>".to_string() + &"The minister said the agreement covers data centres. ".repeat(14) + "</p>";
        assert_eq!(teaser(&article(&lead)), Some(Teaser::LeadOnly));
        // No link, no page: never a teaser.
        let mut no_link = article("<p>Short.</p>");
        no_link.entry.link = None;
        assert_eq!(teaser(&no_link), None);
    }
}
