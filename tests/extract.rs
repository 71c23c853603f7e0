//! Page extraction over WCXB's dev split (`../shared/extraction/wcxb-dev`, or
//! `$KABAR_WCXB`): the figure the README quotes, held by a bar just under it. Skipped
//! without the set (a fresh clone), required by `.ci/run`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

#[path = "../benches/harness/score.rs"]
mod score;

fn wcxb() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("KABAR_WCXB").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/extraction/wcxb-dev")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.join("ground-truth").is_dir());
    if found.is_none() {
        crate::support::skip_or_fail("no WCXB dev set (set KABAR_WCXB, or put it at ../shared/extraction/wcxb-dev)");
    }
    found
}

#[test]
fn wcxb_dev_articles_extract_with_their_quoted_word_f1() {
    let Some(dir) = wcxb() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("html")).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    let (mut f1, mut pages, mut panics) = (0.0, 0usize, 0usize);
    for path in &files {
        let id = path.file_name().unwrap().to_string_lossy().split('.').next().unwrap().to_string();
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut bytes).unwrap();
        let truth: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("ground-truth").join(format!("{id}.json"))).unwrap(),
        )
        .unwrap();
        let gold = truth["ground_truth"]["main_content"].as_str().unwrap_or_default();
        let url = truth["url"].as_str().and_then(|u| url::Url::parse(u).ok());
        let text = match std::panic::catch_unwind(|| kabar::pipeline::extract::extract(&bytes, None, url.as_ref())) {
            Ok(Ok(page)) => page.text,
            Ok(Err(_)) => String::new(),
            Err(_) => {
                panics += 1;
                String::new()
            }
        };
        f1 += score::word_scores(&text, gold).2;
        pages += 1;
    }
    let f1 = f1 / pages as f64;
    crate::support::figure("extraction (WCXB dev)", &format!("{pages} pages, word F1 {f1:.3}, {panics} panics"));
    assert_eq!(panics, 0);
    assert!(pages >= 700, "{pages} pages");
    // Measured 0.933 (README, Article pages).
    assert!(f1 >= 0.93, "word F1 {f1:.3}");
}
