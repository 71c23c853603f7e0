//! One way to run a statement on either backend: SQLite (rusqlite) or PostgreSQL
//! (`postgres`). Statements are written once, in the SQL both accept, with SQLite's
//! `?N` parameters; on PostgreSQL they become `$N` when first prepared, and each
//! connection keeps what it prepared. Where the two dialects differ, the caller picks
//! with [`Sql::backend`].
//!
//! Values go in as [`Value`] (the [`args!`] macro) and come out through [`Col`]: one
//! integer type (`BIGINT` on PostgreSQL), one real, text and bytes.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::StoreError;

/// Which database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A statement's parameter.
#[derive(Debug, Clone)]
pub(in crate::store) enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
}

/// `args![a, b, c]`: a statement's parameters, each borrowed as a [`Value`].
macro_rules! args {
    ($($e:expr),* $(,)?) => { &[$($crate::store::sql::Param::value(&$e)),*][..] };
}
pub(in crate::store) use args;

/// What can be a statement's parameter.
pub(in crate::store) trait Param {
    fn value(&self) -> Value<'_>;
}

macro_rules! int_params {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_params!(i64, i32, u32, u16, u8, usize, u64);

impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Int((*self).into())
    }
}
impl Param for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}
impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(Cow::Borrowed(self))
    }
}
impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(Cow::Borrowed(self))
    }
}
impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(Cow::Borrowed(self))
    }
}
impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(Cow::Borrowed(self))
    }
}
impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}
impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Value<'_> {
    /// Written as the type PostgreSQL inferred for the parameter.
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            &Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::FLOAT8 => (v as f64).to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                _ => Err(format!("an integer for a {ty} parameter").into()),
            },
            &Value::Real(v) => match *ty {
                Type::FLOAT4 => (v as f32).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(v) => <&str as ToSql>::to_sql(&&**v, ty, out),
            Value::Blob(v) => <&[u8] as ToSql>::to_sql(&&**v, ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column's value as read, before [`Col`] types it.
#[derive(Debug)]
pub(in crate::store) enum Owned {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl<'a> FromSql<'a> for Owned {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => Owned::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Owned::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Owned::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Owned::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Owned::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Owned::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => Owned::Blob(raw.to_vec()),
            _ => Owned::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Owned::Null)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8
                | Type::INT4
                | Type::INT2
                | Type::BOOL
                | Type::FLOAT8
                | Type::FLOAT4
                | Type::BYTEA
                | Type::TEXT
                | Type::VARCHAR
                | Type::NAME
                | Type::BPCHAR
        )
    }
}

impl From<rusqlite::types::ValueRef<'_>> for Owned {
    fn from(v: rusqlite::types::ValueRef<'_>) -> Self {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Owned::Null,
            ValueRef::Integer(v) => Owned::Int(v),
            ValueRef::Real(v) => Owned::Real(v),
            ValueRef::Text(v) => Owned::Text(String::from_utf8_lossy(v).into_owned()),
            ValueRef::Blob(v) => Owned::Blob(v.to_vec()),
        }
    }
}

/// A type a column is read as.
pub(in crate::store) trait Col: Sized {
    fn from_owned(v: Owned) -> Result<Self, String>;
}

fn mismatch<T>(v: &Owned, want: &str) -> Result<T, String> {
    Err(format!("a column holds {v:?}, not {want}"))
}

impl Col for i64 {
    fn from_owned(v: Owned) -> Result<Self, String> {
        match v {
            Owned::Int(i) => Ok(i),
            other => mismatch(&other, "an integer"),
        }
    }
}
macro_rules! narrow_cols {
    ($($t:ty),*) => {$(
        impl Col for $t {
            fn from_owned(v: Owned) -> Result<Self, String> {
                let wide = i64::from_owned(v)?;
                <$t>::try_from(wide).map_err(|_| format!("{wide} is out of range for {}", stringify!($t)))
            }
        }
    )*};
}
narrow_cols!(i32, u32, u16, u8, u64, usize);

impl Col for bool {
    fn from_owned(v: Owned) -> Result<Self, String> {
        Ok(i64::from_owned(v)? != 0)
    }
}
impl Col for f64 {
    fn from_owned(v: Owned) -> Result<Self, String> {
        match v {
            Owned::Real(f) => Ok(f),
            Owned::Int(i) => Ok(i as f64),
            other => mismatch(&other, "a number"),
        }
    }
}
impl Col for String {
    fn from_owned(v: Owned) -> Result<Self, String> {
        match v {
            Owned::Text(s) => Ok(s),
            other => mismatch(&other, "text"),
        }
    }
}
impl Col for Vec<u8> {
    fn from_owned(v: Owned) -> Result<Self, String> {
        match v {
            Owned::Blob(b) => Ok(b),
            Owned::Text(s) => Ok(s.into_bytes()),
            other => mismatch(&other, "bytes"),
        }
    }
}
impl<T: Col> Col for Option<T> {
    fn from_owned(v: Owned) -> Result<Self, String> {
        match v {
            Owned::Null => Ok(None),
            other => T::from_owned(other).map(Some),
        }
    }
}

/// One row of a result.
pub(in crate::store) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

impl Row<'_> {
    /// Column `i` (from 0) as `T`.
    pub fn get<T: Col>(&self, i: usize) -> Result<T, StoreError> {
        let owned = match self {
            Row::Sqlite(r) => Owned::from(r.get_ref(i)?),
            Row::Postgres(r) => r.try_get::<_, Owned>(i)?,
        };
        T::from_owned(owned).map_err(|e| StoreError::Column { column: i, problem: e })
    }
}

/// Statements a PostgreSQL connection has prepared, by their SQLite text.
#[derive(Default)]
pub(in crate::store) struct Prepared(HashMap<String, postgres::Statement>);

/// Distinct statements a connection keeps prepared; past this, it starts over (only
/// statements built per call, such as lists of ids, get there).
const PREPARED: usize = 256;

/// A connection of either backend.
pub(in crate::store) enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

pub(in crate::store) struct PgConn {
    /// Always there; taken only by `Drop`.
    client: Option<postgres::Client>,
    prepared: RefCell<Prepared>,
}

impl PgConn {
    pub fn new(client: postgres::Client) -> PgConn {
        PgConn { client: Some(client), prepared: RefCell::default() }
    }

    pub fn client(&mut self) -> &mut postgres::Client {
        self.client.as_mut().expect("a connection until dropped")
    }
}

/// The driver blocks on a runtime of its own, which an async runtime's thread must not
/// do: there, the connection closes on a thread of its own.
impl Drop for PgConn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            blocking(Backend::Postgres, move || drop(client));
        }
    }
}

/// Runs `f`, which may block in the PostgreSQL driver: here, or, called on an async
/// runtime's thread (where the driver cannot block), on a scoped thread of its own.
/// SQLite's calls run here.
pub(in crate::store) fn blocking<T: Send>(backend: Backend, f: impl FnOnce() -> T + Send) -> T {
    if backend == Backend::Sqlite || tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| s.spawn(f).join()).unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Begins a write transaction (SQLite: `BEGIN IMMEDIATE`).
    pub fn begin(&mut self) -> Result<Sql<'_>, StoreError> {
        Ok(match self {
            Db::Sqlite(conn) => {
                Sql::Sqlite(Lite::Tx(conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?))
            }
            Db::Postgres(pg) => {
                let PgConn { client, prepared } = &mut **pg;
                let client = client.as_mut().expect("a connection until dropped");
                Sql::Postgres(RefCell::new(PgOn::Tx(client.transaction()?)), prepared)
            }
        })
    }

    /// Statements outside a transaction (each its own, on PostgreSQL; reads of one
    /// snapshot per statement).
    pub fn on(&mut self) -> Sql<'_> {
        match self {
            Db::Sqlite(conn) => Sql::Sqlite(Lite::Conn(conn)),
            Db::Postgres(pg) => {
                let PgConn { client, prepared } = &mut **pg;
                let client = client.as_mut().expect("a connection until dropped");
                Sql::Postgres(RefCell::new(PgOn::Client(client)), prepared)
            }
        }
    }
}

pub(in crate::store) enum Lite<'c> {
    Conn(&'c rusqlite::Connection),
    Tx(rusqlite::Transaction<'c>),
}

pub(in crate::store) enum PgOn<'c> {
    Client(&'c mut postgres::Client),
    Tx(postgres::Transaction<'c>),
}

impl PgOn<'_> {
    fn prepare(&mut self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        match self {
            PgOn::Client(c) => c.prepare(sql),
            PgOn::Tx(t) => t.prepare(sql),
        }
    }

    fn execute(&mut self, st: &postgres::Statement, args: &[&(dyn ToSql + Sync)]) -> Result<u64, postgres::Error> {
        match self {
            PgOn::Client(c) => c.execute(st, args),
            PgOn::Tx(t) => t.execute(st, args),
        }
    }

    fn batch(&mut self, sql: &str) -> Result<(), postgres::Error> {
        match self {
            PgOn::Client(c) => c.batch_execute(sql),
            PgOn::Tx(t) => t.batch_execute(sql),
        }
    }

    fn query_raw<'s, I>(
        &'s mut self,
        st: &postgres::Statement,
        args: I,
    ) -> Result<postgres::RowIter<'s>, postgres::Error>
    where
        I: IntoIterator,
        I::Item: postgres::types::BorrowToSql,
        I::IntoIter: ExactSizeIterator,
    {
        match self {
            PgOn::Client(c) => c.query_raw(st, args),
            PgOn::Tx(t) => t.query_raw(st, args),
        }
    }
}

/// Where statements run: a connection, or a transaction on one.
pub(in crate::store) enum Sql<'c> {
    Sqlite(Lite<'c>),
    Postgres(RefCell<PgOn<'c>>, &'c RefCell<Prepared>),
}

impl Sql<'_> {
    pub fn backend(&self) -> Backend {
        match self {
            Sql::Sqlite(_) => Backend::Sqlite,
            Sql::Postgres(..) => Backend::Postgres,
        }
    }

    fn lite(&self) -> &rusqlite::Connection {
        match self {
            Sql::Sqlite(Lite::Conn(c)) => c,
            Sql::Sqlite(Lite::Tx(t)) => t,
            Sql::Postgres(..) => unreachable!("a SQLite handle"),
        }
    }

    fn statement(
        on: &mut PgOn<'_>,
        prepared: &RefCell<Prepared>,
        sql: &str,
    ) -> Result<postgres::Statement, StoreError> {
        if let Some(st) = prepared.borrow().0.get(sql) {
            return Ok(st.clone());
        }
        let st = on.prepare(&dollar_parameters(sql))?;
        let mut cache = prepared.borrow_mut();
        if cache.0.len() >= PREPARED {
            cache.0.clear();
        }
        cache.0.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    /// Runs a statement; returns the rows it changed.
    pub fn exec(&self, sql: &str, args: &[Value]) -> Result<usize, StoreError> {
        match self {
            Sql::Sqlite(_) => Ok(self.lite().prepare_cached(sql)?.execute(rusqlite::params_from_iter(args))?),
            Sql::Postgres(on, prepared) => {
                let mut on = on.borrow_mut();
                let st = Self::statement(&mut on, prepared, sql)?;
                let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
                Ok(on.execute(&st, &refs)? as usize)
            }
        }
    }

    /// Runs statements with no parameters and no results (migrations).
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Sql::Sqlite(_) => Ok(self.lite().execute_batch(sql)?),
            Sql::Postgres(on, _) => Ok(on.borrow_mut().batch(sql)?),
        }
    }

    /// Calls `f` on each row until it returns false.
    pub fn each(
        &self,
        sql: &str,
        args: &[Value],
        mut f: impl FnMut(&Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        match self {
            Sql::Sqlite(_) => {
                let conn = self.lite();
                let mut st = conn.prepare_cached(sql)?;
                let mut rows = st.query(rusqlite::params_from_iter(args))?;
                while let Some(r) = rows.next()? {
                    if !f(&Row::Sqlite(r))? {
                        break;
                    }
                }
                Ok(())
            }
            Sql::Postgres(on, prepared) => {
                use postgres::fallible_iterator::FallibleIterator;
                let mut on = on.borrow_mut();
                let st = Self::statement(&mut on, prepared, sql)?;
                let mut rows = on.query_raw(&st, args.iter())?;
                while let Some(r) = rows.next()? {
                    if !f(&Row::Postgres(&r))? {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    /// Every row, each made by `f`.
    pub fn all<T>(
        &self,
        sql: &str,
        args: &[Value],
        mut f: impl FnMut(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.each(sql, args, |r| {
            out.push(f(r)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The first row, if any, made by `f`.
    pub fn opt<T>(
        &self,
        sql: &str,
        args: &[Value],
        f: impl FnOnce(&Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut f = Some(f);
        let mut out = None;
        self.each(sql, args, |r| {
            out = Some((f.take().expect("called once"))(r)?);
            Ok(false)
        })?;
        Ok(out)
    }

    /// The first row, made by `f`; no row is an error.
    pub fn one<T>(
        &self,
        sql: &str,
        args: &[Value],
        f: impl FnOnce(&Row) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.opt(sql, args, f)?.ok_or(StoreError::NoRow)
    }

    /// The first column of the first row.
    pub fn value<T: Col>(&self, sql: &str, args: &[Value]) -> Result<T, StoreError> {
        self.one(sql, args, |r| r.get(0))
    }

    pub fn commit(self) -> Result<(), StoreError> {
        match self {
            Sql::Sqlite(Lite::Tx(t)) => Ok(t.commit()?),
            Sql::Postgres(on, _) => match on.into_inner() {
                PgOn::Tx(t) => Ok(t.commit()?),
                PgOn::Client(_) => Ok(()),
            },
            Sql::Sqlite(Lite::Conn(_)) => Ok(()),
        }
    }
}

/// The rows of a multi-row `VALUES`: `rows` rows of `width` parameters each, numbered
/// from `first` on, each row's text made by `row` from its parameters' numbers. One
/// statement for many rows is one round trip on PostgreSQL.
pub(in crate::store) fn values_rows(
    rows: usize,
    width: usize,
    first: usize,
    row: impl Fn(&[usize]) -> String,
) -> String {
    let numbers: Vec<usize> = (first..first + rows * width).collect();
    numbers.chunks(width).map(row).collect::<Vec<_>>().join(", ")
}

/// SQLite's `?N` and `?` parameters as PostgreSQL's `$N` (a bare `?` is one past the
/// largest number so far, as in SQLite); quoted text is left alone.
pub(in crate::store) fn dollar_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut largest = 0u32;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = digits.parse::<u32>().unwrap_or(largest + 1);
                largest = largest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_rows_number_each_rows_parameters_on_from_the_first() {
        let sql = values_rows(3, 2, 2, |k| format!("(?1, ?{}, ?{})", k[0], k[1]));
        assert_eq!(sql, "(?1, ?2, ?3), (?1, ?4, ?5), (?1, ?6, ?7)");
        assert_eq!(values_rows(0, 2, 1, |_| unreachable!()), "");
    }

    #[test]
    fn parameters_are_renumbered_as_sqlite_numbers_them() {
        assert_eq!(dollar_parameters("a = ?1 AND b = ?2 OR c = ?1"), "a = $1 AND b = $2 OR c = $1");
        assert_eq!(
            dollar_parameters("a = ? AND b = ? AND c = ?5 AND d = ?"),
            "a = $1 AND b = $2 AND c = $5 AND d = $6"
        );
        assert_eq!(dollar_parameters("x = '?1' AND y = ?"), "x = '?1' AND y = $1");
    }

    #[test]
    fn values_round_trip_through_sqlite() {
        let mut db = Db::Sqlite(rusqlite::Connection::open_in_memory().unwrap());
        let sql = db.on();
        sql.batch("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB)").unwrap();
        let name = Some("x".to_string());
        sql.exec("INSERT INTO t VALUES (?1, ?2, ?3, ?4)", args![7u16, 0.5, name, vec![1u8, 2]]).unwrap();
        sql.exec("INSERT INTO t VALUES (?1, ?2, ?3, ?4)", args![None::<i64>, None::<f64>, None::<&str>, None::<&[u8]>])
            .unwrap();
        let rows = sql
            .all("SELECT i, r, s, b FROM t ORDER BY rowid", &[], |r| {
                Ok((
                    r.get::<Option<u16>>(0)?,
                    r.get::<Option<f64>>(1)?,
                    r.get::<Option<String>>(2)?,
                    r.get::<Option<Vec<u8>>>(3)?,
                ))
            })
            .unwrap();
        assert_eq!(rows, vec![(Some(7), Some(0.5), name, Some(vec![1, 2])), (None, None, None, None)]);
        let wrong = sql.value::<String>("SELECT i FROM t WHERE i IS NOT NULL", &[]).unwrap_err();
        assert!(wrong.to_string().contains("not text"), "{wrong}");
        assert!(matches!(sql.value::<i64>("SELECT i FROM t WHERE 0", &[]), Err(StoreError::NoRow)));
    }
}
