//! `topics`: matching throughput with 10, 1,000 and 10,000 topics (`--words broad` or
//! `--words narrow` for one kind of topic only).

use crate::prelude::*;

pub(crate) fn topics(only: Option<&str>) {
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
        "\ntopic matching over {} articles (~{} words each)\n\n\
         *broad*: topic words drawn as the articles' words are (half of them function words\n\
         such as \"the\" or \"yang\"), so a topic flags about a quarter of all articles;\n\
         *narrow*: topic words drawn evenly from the 10,000 content words, as monitoring\n\
         topics name things (a typical topic flags well under 1 % of articles)\n\n\
         | topics | words | articles/s | µs per article | flags per article | compiling |\n|---|---|---|---|---|---|",
        articles.len(),
        articles[0].index_body.split(' ').count()
    );
    for (kind, narrow) in [("broad", false), ("narrow", true)] {
        if only.is_some_and(|o| o != kind) {
            continue;
        }
        let mut rng = Rng(11);
        for n in [10usize, 1_000, 10_000] {
            let mut text = String::new();
            for t in 0..n {
                let mut w = || {
                    let v = &vocab[rng.below(2)];
                    if narrow { v.content[rng.below(v.content.len())].clone() } else { v.word(&mut rng) }
                };
                let q = match t % 4 {
                    0 => format!("{} NEAR/5 {}", w(), w()),
                    1 => format!(
                        "\"{} {}\" OR {}*",
                        w(),
                        w(),
                        w().chars().take(if narrow { 5 } else { 3 }).collect::<String>()
                    ),
                    2 => format!("({} OR {}) AND NOT {}", w(), w(), w()),
                    _ => format!("title:{} {}", w(), w()),
                };
                let _ = write!(text, "[[topics]]\nname = \"t{t}\"\nquery = '{q}'\n");
            }
            let config = kabar::config::parse(&text, Path::new("topics.toml")).unwrap();
            let compiling = Instant::now();
            let compiled = Topics::new(config.topic_queries());
            let compile = compiling.elapsed();
            let started = Instant::now();
            let mut flags = 0;
            for a in &articles {
                flags += classify(a, "f", &compiled).len();
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "| {n} | {kind} | {:.0} | {:.1} | {:.1} | {:.0} ms |",
                articles.len() as f64 / secs,
                secs * 1e6 / articles.len() as f64,
                flags as f64 / articles.len() as f64,
                compile.as_secs_f64() * 1e3
            );
        }
    }
}
