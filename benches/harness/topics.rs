//! `topics`: matching throughput with 10, 1,000 and 10,000 topics.

use crate::prelude::*;

pub(crate) fn topics() {
    use kabar::model::Entry;
    use kabar::pipeline::classify::{Topics, classify};
    let mut rng = Rng(7);
    let vocab = vocabs();
    let now = chrono::Utc::now().timestamp();
    let articles: Vec<_> = (0..2000)
        .map(|i| {
            let id = i % 2 == 1;
            let a = article(&mut rng, &vocab[id as usize], format!("t{i}"), format!("http://t.example/{i}"), now);
            let entry = Entry { title: a.title.clone(), content_html: Some(html(&a)), ..Entry::default() };
            kabar::pipeline::clean::clean(entry, None, None)
        })
        .collect();
    println!(
        "\ntopic matching over {} articles (~{} words each)\n\n| topics | articles/s | µs per article | flags |\n|---|---|---|---|",
        articles.len(),
        articles[0].index_body.split(' ').count()
    );
    for n in [10usize, 1_000, 10_000] {
        let mut text = String::new();
        for t in 0..n {
            let w = |rng: &mut Rng| {
                let v = &vocab[rng.below(2)];
                v.word(rng)
            };
            let q = match t % 4 {
                0 => format!("{} NEAR/5 {}", w(&mut rng), w(&mut rng)),
                1 => format!(
                    "\"{} {}\" OR {}*",
                    w(&mut rng),
                    w(&mut rng),
                    w(&mut rng).chars().take(3).collect::<String>()
                ),
                2 => format!("({} OR {}) AND NOT {}", w(&mut rng), w(&mut rng), w(&mut rng)),
                _ => format!("title:{} {}", w(&mut rng), w(&mut rng)),
            };
            let _ = write!(text, "[[topics]]\nname = \"t{t}\"\nquery = '{q}'\n");
        }
        let config = kabar::config::parse(&text, Path::new("topics.toml")).unwrap();
        let compiled = Topics::new(config.topic_queries());
        let started = Instant::now();
        let mut flags = 0;
        for a in &articles {
            flags += classify(a, "f", &compiled).len();
        }
        let secs = started.elapsed().as_secs_f64();
        println!("| {n} | {:.0} | {:.1} | {flags} |", articles.len() as f64 / secs, secs * 1e6 / articles.len() as f64);
    }
}
