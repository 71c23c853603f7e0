//! The read side: what the command line and the HTTP API ask of the stored archive.
//! A search ([`search`]) runs the query language's matcher over stored articles; the
//! listings ([`listing`]) merge the stored feeds and topics with the configuration.
//! Read-only: every function here takes a [`crate::store::Reader`].

pub mod listing;
pub mod search;
pub mod show;

pub use listing::{FilterError, WhenError, check_filters, parse_when};
pub use search::{SearchParams, search};
