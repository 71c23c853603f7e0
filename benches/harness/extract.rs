//! `extract DIR`: kabar's page extraction over a folder of pages with gold main text
//! (WCXB's layout: `html/NNNN.html.gz` and `ground-truth/NNNN.json`, whose
//! `ground_truth.main_content` is the gold text). Prints word precision, recall and F1
//! per page, averaged, and the time per page (median and p99).
//!
//! The scores are `score::word_scores`'; a page kabar refuses counts as empty text.

use std::io::Read as _;

use crate::prelude::*;
use crate::score::word_scores;

pub(crate) fn extract(dir: &Path) {
    let html_dir = dir.join("html");
    let Ok(entries) = std::fs::read_dir(&html_dir) else {
        eprintln!("extract: no {} (give the folder that holds html/ and ground-truth/)", html_dir.display());
        std::process::exit(2);
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    let (mut p, mut r, mut f) = (0.0, 0.0, 0.0);
    let mut times = Vec::new();
    let mut refused: BTreeMap<&'static str, usize> = BTreeMap::new();
    for path in &files {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let id = name.split('.').next().unwrap_or_default();
        let mut bytes = Vec::new();
        let read = std::fs::File::open(path).and_then(|file| {
            if name.ends_with(".gz") {
                flate2::read::GzDecoder::new(file).read_to_end(&mut bytes)
            } else {
                std::io::BufReader::new(file).read_to_end(&mut bytes)
            }
        });
        if read.is_err() {
            continue;
        }
        let truth: serde_json::Value =
            match std::fs::read_to_string(dir.join("ground-truth").join(format!("{id}.json")))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
            {
                Some(v) => v,
                None => continue,
            };
        let gold = truth["ground_truth"]["main_content"].as_str().unwrap_or_default();
        let url = truth["url"].as_str().and_then(|u| url::Url::parse(u).ok());
        let started = Instant::now();
        let page = kabar::pipeline::extract::extract(&bytes, None, url.as_ref());
        times.push(started.elapsed());
        let text = match page {
            Ok(page) => page.text,
            Err(e) => {
                *refused.entry(e.status()).or_default() += 1;
                String::new()
            }
        };
        let (pp, rr, ff) = word_scores(&text, gold);
        (p, r, f) = (p + pp, r + rr, f + ff);
    }
    let n = times.len().max(1) as f64;
    times.sort();
    let at = |q: f64| times.get(((times.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    println!(
        "{} pages: word F1 {:.3}, precision {:.3}, recall {:.3}; per page median {:.1} ms, p99 {:.1} ms, max {:.1} ms; refused {:?}",
        times.len(),
        f / n,
        p / n,
        r / n,
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
        refused
    );
}
