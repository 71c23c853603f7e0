//! The command line: parsing, one function per command, exit codes.
//!
//! Errors inside are typed; here they become one message on stderr and exit code 1
//! (clap's usage errors exit 2).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::config::{self, Config, ConfigError};
use crate::daemon::Progress;
use crate::output::{self, ListFormat, ShowFormat};
use crate::poll::{Polled, Report};
use crate::query::Query;
use crate::read::listing;
use crate::read::{SearchParams, search};
use crate::store::{Reader, Writer};
use crate::{daemon, opml, query};

#[derive(Debug, Parser)]
#[command(name = "kabar", version, about = "Monitor news feeds: store, deduplicate, flag topics, search")]
pub struct Cli {
    /// The configuration file (default: $KABAR_CONFIG, ./kabar.toml, /etc/kabar/kabar.toml)
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Log lines as text (default) or JSON, on standard error
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon in the foreground (systemd runs this)
    Run,
    /// Validate the configuration: exit 0 when valid, 1 with the errors
    Check,
    /// Fetch all (or the named) feeds once, store what they hold, print a summary
    Fetch {
        /// Feed names (default: every configured feed)
        feeds: Vec<String>,
    },
    /// Search stored articles with the topic query language
    Search {
        /// A query such as 'digital* NEAR/15 (cooperation OR "kerja sama")'
        query: Option<String>,
        /// Only articles flagged for this topic
        #[arg(long)]
        topic: Option<String>,
        /// Only articles from this feed
        #[arg(long)]
        feed: Option<String>,
        /// From this time: a date (2025-01-26), an RFC 3339 time, or an age (7d, 12h)
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Up to this time (a date includes that whole day)
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,
        /// Every copy of a story, not one row per story
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Show one article: text, topics with evidence, the copies of its story
    Show {
        id: i64,
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
    /// Per feed: last fetch, status, next due, failures, articles
    Feeds {
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// A fleet on PostgreSQL: each worker's heartbeat and hosts, and each host's lease
    Workers {
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Print [[feeds]] entries for the subscriptions of an OPML file
    ImportOpml {
        file: PathBuf,
        /// Append them to the configuration file instead (after checking the result)
        #[arg(long)]
        append: bool,
    },
    /// Write the configured feeds as OPML to standard output
    ExportOpml,
    /// Queue article pages again and read them: those that gave no text, and those read by
    /// an older extractor (both unless one is chosen); stop and run again at any time
    RefetchPages {
        /// Only the pages that failed for good
        #[arg(long)]
        failed: bool,
        /// Only the pages read by an older extractor
        #[arg(long)]
        outdated: bool,
    },
    /// Print what kabar extracts from an article page: its main text, boilerplate lines,
    /// language, published time and canonical URL
    Extract {
        /// An HTML file, or - for standard input
        file: PathBuf,
        /// The page's address (resolves a relative canonical link)
        #[arg(long)]
        url: Option<String>,
        #[arg(long, value_enum, default_value_t = ExtractFormat::Text)]
        format: ExtractFormat,
    },
    /// Per topic: stories flagged in the last 24 hours, 7 days, and ever
    Topics {
        #[command(subcommand)]
        action: Option<TopicsAction>,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
}

#[derive(Debug, Subcommand)]
enum TopicsAction {
    /// Try a query on the stored archive before adding it as a topic
    Test {
        /// A query in the topic language
        query: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Parses the arguments, runs the command, and turns the result into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A panic is caught where it happens (one feed's processing, one writer job) and
    // becomes that feed's error; log it as one event, without the default hook's
    // backtrace (symbolising one costs hundreds of MiB and is of no use to operators).
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let message = crate::panic_message(info.payload());
        tracing::error!(at = %place, "panic: {message}");
    }));
    // One-shot commands report in their own output, so their log shows only what went
    // wrong beyond that; the daemon starts its log once its configuration is read.
    if !matches!(cli.command, Command::Run) {
        let level = if matches!(cli.command, Command::Fetch { .. }) { "error" } else { "warn" };
        init_logging(level, cli.log_format == Some(LogFormat::Json));
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(io::stderr(), "kabar: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs to standard error: `KABAR_LOG` (or `RUST_LOG`) chooses the level, else
/// `default`; JSON lines for log shippers, or text (without timestamps under systemd,
/// whose journal adds its own).
fn init_logging(default: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KABAR_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        // html5ever warns about every odd tag of a page it builds a tree from; that is the
        // page's business, not the operator's.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default},html5ever=error,markup5ever=error")))
        // The PostgreSQL driver logs every statement with its parameters (article text)
        // at debug: never wanted in kabar's log.
        .add_directive("tokio_postgres=info".parse().expect("a valid directive"));
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(io::stderr).with_target(false);
    if json {
        builder.json().flatten_event(true).init();
    } else if journal {
        builder.with_ansi(false).without_time().init();
    } else {
        builder.with_ansi(io::stderr().is_terminal()).init();
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kabar")
        .build()
        .context("cannot start the async runtime")
}

fn load_config(path: Option<&std::path::Path>) -> Result<Config, ConfigError> {
    let path = config::locate(path)?;
    config::load(&path)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config_path = cli.config.as_deref();
    match cli.command {
        Command::Check => Ok(check(config_path)),
        Command::Run => {
            let config = load_config(config_path)?;
            let json = cli.log_format.map_or(config.log.json, |f| f == LogFormat::Json);
            init_logging(config.log.level.as_deref().unwrap_or("info"), json);
            let writer = Writer::open(&config.database, config.dedup.clone())?;
            runtime()?.block_on(async {
                let (reload, reloads) = tokio::sync::mpsc::channel(4);
                tokio::spawn(daemon::hangups(reload));
                daemon::run(config, writer, daemon::shutdown_signal(), reloads).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fetch { feeds } => fetch(&load_config(config_path)?, &feeds),
        Command::ImportOpml { file, append } => import_opml(config_path, &file, append),
        Command::Extract { file, url, format } => extract(&file, url.as_deref(), format),
        Command::RefetchPages { failed, outdated } => {
            let config = load_config(config_path)?;
            let (failed, outdated) = if failed || outdated { (failed, outdated) } else { (true, true) };
            let writer = Writer::open(&config.database, config.dedup.clone())?;
            let within = config.fetch.timeout * 30;
            let (queued, pages) =
                runtime()?.block_on(daemon::refetch_pages(&config, writer, failed, outdated, within))?;
            print(|out| {
                writeln!(
                    out,
                    "{queued} pages queued; {} read, {} gave no text, {} to retry later",
                    pages.fetched, pages.failed, pages.retried
                )
            })
        }
        Command::ExportOpml => {
            let config = load_config(config_path)?;
            print(|out| out.write_all(opml::write(&config.feeds).as_bytes()))
        }
        Command::Search { query, topic, feed, since, until, all, limit, format } => {
            let config = load_config(config_path)?;
            let now = Utc::now();
            let query = match query.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
                Some(q) => Some(Query::parse(q).map_err(|e| query_error(q, &e))?),
                None => None,
            };
            let params = SearchParams {
                query,
                topic,
                feed,
                since: since.map(|s| listing::parse_when(&s, now, false)).transpose()?,
                until: until.map(|s| listing::parse_when(&s, now, true)).transpose()?,
                all,
                limit,
            };
            let reader = Reader::open(&config.database)?;
            listing::check_filters(&reader, &config, params.topic.as_deref(), params.feed.as_deref())?;
            let rows = search(&reader, &params)?;
            print(|out| output::articles(out, &rows, format, output::terminal_width()))
        }
        Command::Show { id, format } => {
            let config = load_config(config_path)?;
            let reader = Reader::open(&config.database)?;
            let Some(detail) = crate::read::show::article(&reader, id)? else {
                bail!("no article with id {id}");
            };
            print(|out| output::article_detail(out, &detail, format))
        }
        Command::Feeds { format } => {
            let config = load_config(config_path)?;
            let reader = Reader::open(&config.database)?;
            let rows = listing::feeds(&reader, &config)?;
            print(|out| output::feeds(out, &rows, format, output::terminal_width()))
        }
        Command::Workers { format } => {
            let config = load_config(config_path)?;
            if config.database.sqlite().is_some() {
                bail!(
                    "one process writes a SQLite database; workers share a PostgreSQL one (storage.backend = \"postgres\")"
                );
            }
            let reader = Reader::open(&config.database)?;
            let now = Utc::now().timestamp();
            let (workers, leases) = (reader.workers(now)?, reader.leases(now)?);
            print(|out| output::workers(out, &workers, &leases, format, output::terminal_width()))
        }
        Command::Topics { action: None, format } => {
            let config = load_config(config_path)?;
            let reader = Reader::open(&config.database)?;
            let rows = listing::topics(&reader, &config, Utc::now().timestamp())?;
            print(|out| output::topics(out, &rows, format, output::terminal_width()))
        }
        Command::Topics { action: Some(TopicsAction::Test { query, limit, format }), .. } => {
            let config = load_config(config_path)?;
            let parsed = Query::parse(query.trim()).map_err(|e| query_error(&query, &e))?;
            let reader = Reader::open(&config.database)?;
            // Every matching article, to count them; the listing shows the newest stories.
            let all = search(
                &reader,
                &SearchParams { query: Some(parsed.clone()), all: true, limit: usize::MAX, ..SearchParams::default() },
            )?;
            let stories: std::collections::HashSet<i64> = all.iter().map(|r| r.story).collect();
            let rows = search(&reader, &SearchParams { query: Some(parsed), limit, ..SearchParams::default() })?;
            let total = reader.article_count()?;
            print(|out| {
                output::articles(out, &rows, format, output::terminal_width())?;
                if format == ListFormat::Table {
                    writeln!(
                        out,
                        "\n{} stories ({} articles) of the {total} stored articles match; showing the newest {}",
                        stories.len(),
                        all.len(),
                        rows.len()
                    )?;
                }
                Ok(())
            })
        }
    }
}

/// Writes to stdout; a closed pipe (`kabar search | head`) is not an error.
fn print(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match f(&mut out).and_then(|_| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => {
            other?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(path: Option<&std::path::Path>) -> ExitCode {
    match load_config(path) {
        Ok(c) => {
            println!(
                "{}: ok ({} feeds, {} topics; database {})",
                c.path.display(),
                c.feeds.len(),
                c.topics.len(),
                c.database
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn import_opml(
    config_path: Option<&std::path::Path>,
    file: &std::path::Path,
    append: bool,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let subs = opml::read(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let config = if append { Some(load_config(config_path)?) } else { load_config(config_path).ok() };
    let configured = config.as_ref().map(|c| c.feeds.clone()).unwrap_or_default();
    let (entries, skipped) = opml::to_toml(&subs, &configured);
    let added = subs.len() - skipped;
    if !append {
        print(|out| out.write_all(entries.as_bytes()))?;
        eprintln!("{added} feeds ({skipped} already configured)");
        return Ok(ExitCode::SUCCESS);
    }
    let config = config.expect("loaded above");
    let current =
        std::fs::read_to_string(&config.path).with_context(|| format!("cannot read {}", config.path.display()))?;
    let combined = format!(
        "{}
# Imported from {}
{entries}",
        current.trim_end(),
        file.display()
    );
    // Write only what validates, and atomically: the old file stays until the new one is whole.
    config::parse(&combined, &config.path).map_err(|e| anyhow::anyhow!("the result would not be valid:\n{e}"))?;
    replace_file(&config.path, combined.as_bytes())
        .with_context(|| format!("cannot replace {}", config.path.display()))?;
    eprintln!("{}: {added} feeds added ({skipped} already configured)", config.path.display());
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExtractFormat {
    /// The main text, paragraphs separated by blank lines
    Text,
    /// Title, text, boilerplate lines, language, published, canonical URL
    Json,
}

/// The largest page `extract` reads (the daemon's page fetches have `fetch.max_body`).
const MAX_PAGE: u64 = 64 << 20;

fn extract(file: &std::path::Path, url: Option<&str>, format: ExtractFormat) -> anyhow::Result<ExitCode> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let reading = if file.as_os_str() == "-" {
        io::stdin().lock().take(MAX_PAGE + 1).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(MAX_PAGE + 1).read_to_end(&mut bytes))
    };
    reading.with_context(|| format!("cannot read {}", file.display()))?;
    if bytes.len() as u64 > MAX_PAGE {
        bail!("{} is larger than {} MiB", file.display(), MAX_PAGE >> 20);
    }
    let base = url.map(url::Url::parse).transpose().with_context(|| format!("--url {url:?} is not a URL"))?;
    let page = match crate::pipeline::extract::extract(&bytes, None, base.as_ref()) {
        Ok(page) => page,
        Err(e) => {
            eprintln!("kabar: {}: {e} ({})", file.display(), e.status());
            return Ok(ExitCode::from(1));
        }
    };
    match format {
        ExtractFormat::Json => print(|out| {
            serde_json::to_writer_pretty(&mut *out, &page)?;
            writeln!(out)
        }),
        ExtractFormat::Text => print(|out| {
            let paragraphs: Vec<String> = page
                .text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| output::terminal_safe(l).into_owned())
                .collect();
            writeln!(out, "{}", paragraphs.join("\n\n"))
        }),
    }
}

/// Replaces the file at `path` with `contents` so that a crash leaves either the old
/// file or the new one, whole, with the old one's permissions (and owner, where this
/// process may set it): written beside it under a new name, flushed to disk, renamed
/// over it, and the folder flushed so the rename itself is durable.
fn replace_file(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let old = std::fs::metadata(path)?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(old.mode() & 0o7777).open(&tmp)?;
        // The mode given at creation is cut by the umask; set it exactly.
        file.set_permissions(std::fs::Permissions::from_mode(old.mode() & 0o7777))?;
        // Only root may give a file away; anyone else keeps their own ownership.
        let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()));
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(folder)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn fetch(config: &Config, only: &[String]) -> anyhow::Result<ExitCode> {
    let unknown: Vec<&String> = only.iter().filter(|n| !config.feeds.iter().any(|f| &f.name == *n)).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = config.feeds.iter().map(|f| f.name.as_str()).collect();
        bail!(
            "unknown feed {} (configured: {})",
            unknown.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", "),
            known.join(", ")
        );
    }
    let writer = Writer::open(&config.database, config.dedup.clone())?;
    let progress_on = io::stderr().is_terminal();
    let (reports, pages) = runtime()?.block_on(daemon::fetch_once(
        config,
        writer,
        only,
        |progress| {
            if !progress_on {
                return;
            }
            let line = match progress {
                Progress::Polled(report, done, total) => {
                    format!("[{done}/{total}] {}", output::terminal_safe(&report.feed))
                }
                Progress::Reindexed(topic, p) => {
                    format!("re-evaluating topic {} over the archive: {}%", output::terminal_safe(topic), p.percent())
                }
            };
            let _ = write!(io::stderr(), "\r\x1b[2K{line}");
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    ))?;
    if progress_on {
        let _ = write!(io::stderr(), "\r\x1b[2K");
    }
    print(|out| fetch_summary(out, &reports, pages))
}

fn fetch_summary(out: &mut dyn Write, reports: &[Report], pages: crate::pages::Counts) -> io::Result<()> {
    let (mut ok, mut failed, mut new, mut dups, mut updated) = (0, 0, 0, 0, 0);
    for r in reports {
        let (status, detail) = match &r.result {
            Ok(Polled::NotModified) => {
                ok += 1;
                ("not modified".to_string(), String::new())
            }
            Ok(Polled::Fetched(s)) => {
                ok += 1;
                new += s.new;
                dups += s.duplicates;
                updated += s.updated;
                let truncated = if s.truncated > 0 {
                    format!(" ({} entries over the limit dropped)", s.truncated)
                } else {
                    String::new()
                };
                (
                    "ok".to_string(),
                    format!(
                        "{} entries: {} new ({} copies of stored stories), {} updated{truncated}",
                        s.entries, s.new, s.duplicates, s.updated
                    ),
                )
            }
            Err(e) => {
                failed += 1;
                (format!("error: {}", e.kind), e.message.clone())
            }
        };
        let detail = match &r.warning {
            Some(w) => format!("{detail}; warning: {w}"),
            None => detail,
        };
        writeln!(out, "{:<24} {:<20} {}", output::terminal_safe(&r.feed), status, output::terminal_safe(&detail))?;
    }
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    writeln!(
        out,
        "{}: {ok} ok, {failed} failed; {} ({}), {updated} updated",
        plural(reports.len(), "feed", "feeds"),
        plural(new, "new article", "new articles"),
        plural(dups, "copy", "copies"),
    )?;
    if pages.fetched + pages.failed + pages.retried > 0 {
        writeln!(
            out,
            "pages: {} read, {} gave no text, {} to retry later",
            pages.fetched, pages.failed, pages.retried
        )?;
    }
    Ok(())
}

/// A query error with the query and a caret under the column.
fn query_error(q: &str, e: &query::QueryError) -> anyhow::Error {
    let line: String = q.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    let caret = " ".repeat(e.column.saturating_sub(1));
    anyhow::anyhow!("invalid query: {e}\n  {}\n  {caret}^", output::terminal_safe(&line))
}
