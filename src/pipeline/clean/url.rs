//! The URL that identifies an article, and the site it belongs to.

use url::Url;

/// The site an article belongs to, for learning its boilerplate: the host of its link.
pub fn site_of(link: Option<&str>) -> Option<String> {
    let url = Url::parse(link?).ok()?;
    Some(url.host_str()?.trim_start_matches("www.").to_ascii_lowercase())
}

/// Query parameters that only track who clicked where.
fn is_tracking_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_")
        || matches!(
            name.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "gclsrc"
                | "msclkid"
                | "yclid"
                | "twclid"
                | "igshid"
                | "mc_cid"
                | "mc_eid"
                | "ref"
                | "ref_src"
                | "ref_url"
                | "_ga"
                | "_gl"
                | "cmpid"
                | "ncid"
                | "sr_share"
                | "rss"
                | "rssfeed"
                | "feed"
                | "from"
        )
}

/// The URL that identifies an article: https, host lower-cased, default port,
/// fragment and tracking parameters removed. `None` for anything not http(s).
pub fn canonical_url(link: &str) -> Option<String> {
    let mut url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    // http and https copies of a page are one article.
    if url.scheme() == "http" {
        url.set_scheme("https").ok()?;
        if url.port() == Some(443) {
            url.set_port(None).ok()?;
        }
    }
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !is_tracking_param(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url.into())
}
