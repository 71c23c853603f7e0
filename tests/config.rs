//! The example configuration passes `kabar check` and holds every accepted key; bad
//! files fail with line and column.

use std::collections::BTreeSet;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::support::{Setup, run, stderr, stdout};

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/kabar.toml")
}

#[test]
fn example_config_passes_check() {
    let o = run(&example(), &["check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok (5 feeds, 3 topics"), "{}", stdout(&o));
}

#[test]
fn example_config_holds_every_accepted_key() {
    let accepted = accepted_keys();
    // Sanity: the walk found the nested and repeated tables.
    for key in ["fetch.per_host.min_interval", "feeds.cron", "topics.query", "schedule.cron"] {
        assert!(accepted.contains(key), "{key} missing from {accepted:?}");
    }
    let text = std::fs::read_to_string(example()).unwrap();
    // Keys that exclude each other are shown commented out ("# key = value").
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.split_once(" = ").is_some_and(|(k, _)| is_key(k)) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let value: toml::Value = toml::from_str(&uncommented).expect("the example is TOML");
    let mut present = BTreeSet::new();
    key_paths(&value, "", &mut present);
    let missing: Vec<&String> = accepted.difference(&present).collect();
    assert!(missing.is_empty(), "config/kabar.toml lacks {missing:?}");
    let unknown: Vec<&String> = present.difference(&accepted).collect();
    assert!(unknown.is_empty(), "config/kabar.toml has keys kabar rejects: {unknown:?}");
}

fn is_key(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

#[test]
fn bad_config_fails_check_with_line_and_column() {
    let setup = Setup::new("[[feeds]]\nname = \"a\"\nurl = \"https://example.org/feed\"\nintervall = \"5m\"\n");
    let o = run(&setup.config, &["check"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    // The setup writes its defaults before the feed (a line more on PostgreSQL).
    let line = line_of(&setup, "intervall");
    assert!(err.contains(&format!("kabar.toml:{line}:1: unknown field `intervall`")), "{err}");
    assert!(err.contains("did you mean `interval`?"), "{err}");

    let setup = Setup::new("[[topics]]\nname = \"t\"\nquery = 'digital NEAR'\n");
    let o = run(&setup.config, &["check"]);
    assert_eq!(o.status.code(), Some(1));
    let line = line_of(&setup, "query = ");
    assert!(
        stderr(&o).contains(&format!("kabar.toml:{line}:22: topic \"t\": query: expected a word")),
        "{}",
        stderr(&o)
    );
}

/// The line number of the first line of the setup's file that starts with `start`.
fn line_of(setup: &Setup, start: &str) -> usize {
    let text = std::fs::read_to_string(&setup.config).unwrap();
    text.lines().position(|l| l.starts_with(start)).expect("the line is there") + 1
}

#[test]
fn a_missing_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = crate::support::kabar().current_dir(dir.path()).args(["check"]).output().unwrap();
    // /etc/kabar/kabar.toml may exist on a real host; only judge a clean machine.
    if !Path::new("/etc/kabar/kabar.toml").exists() {
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("no configuration file"), "{}", stderr(&o));
    }
    let o = run(&dir.path().join("absent.toml"), &["check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
}

fn key_paths(v: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match v {
                    toml::Value::Table(_) => key_paths(v, &path, out),
                    toml::Value::Array(items) if items.iter().all(toml::Value::is_table) && !items.is_empty() => {
                        for item in items {
                            key_paths(item, &path, out);
                        }
                    }
                    _ => {
                        out.insert(path);
                    }
                }
            }
        }
        _ => unreachable!("key_paths starts at a table"),
    }
}

/// Every key path the configuration accepts, found by deserialising the raw config
/// types with a deserializer that records the fields each struct asks for.
fn accepted_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let _ = <kabar::config::raw::RawConfig as serde::Deserialize>::deserialize(Tracer {
        path: String::new(),
        keys: &mut keys,
    });
    keys
}

struct Tracer<'a> {
    path: String,
    keys: &'a mut BTreeSet<String>,
}

#[derive(Debug)]
struct Stop;
impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stop")
    }
}
impl std::error::Error for Stop {}
impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

const SPANNED: &str = "$__serde_spanned_private_Spanned";

impl<'de> Deserializer<'de> for Tracer<'_> {
    type Error = Stop;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        if name == SPANNED {
            // toml's Spanned<T>: start, end, then the value itself at this same path.
            return visitor.visit_map(Fields { fields, index: 0, path: self.path, keys: self.keys, spanned: true });
        }
        visitor.visit_map(Fields { fields, index: 0, path: self.path, keys: self.keys, spanned: false })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_seq(One { tracer: Some(self) })
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.keys.insert(self.path);
        visitor.visit_str("x")
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.keys.insert(self.path);
        visitor.visit_str("x")
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.deserialize_string(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.keys.insert(self.path);
        visitor.visit_i64(1)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_u64(0)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.keys.insert(self.path);
        visitor.visit_f64(0.5)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.keys.insert(self.path);
        visitor.visit_bool(true)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_str(&self.path)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u32 u128 f32 char bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct map enum ignored_any
    }
}

/// Feeds a struct's field names, each value traced at `path.field`.
struct Fields<'a> {
    fields: &'static [&'static str],
    index: usize,
    path: String,
    keys: &'a mut BTreeSet<String>,
    spanned: bool,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Stop> {
        let Some(field) = self.fields.get(self.index) else {
            return Ok(None);
        };
        seed.deserialize(de::value::BorrowedStrDeserializer::new(field)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        let field = self.fields[self.index];
        self.index += 1;
        let path = if self.spanned {
            if !field.ends_with("value") {
                // The span's start and end: numbers, not keys.
                return seed.deserialize(de::value::U64Deserializer::new(0));
            }
            self.path.clone()
        } else if self.path.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.path)
        };
        seed.deserialize(Tracer { path, keys: self.keys })
    }
}

/// A sequence of one element, traced at the sequence's own path.
struct One<'a> {
    tracer: Option<Tracer<'a>>,
}

impl<'de> SeqAccess<'de> for One<'_> {
    type Error = Stop;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Stop> {
        match self.tracer.take() {
            Some(t) => seed.deserialize(t).map(Some),
            None => Ok(None),
        }
    }
}
