//! The read side of mailtrace: what to look for and how to print what was found.
//!
//! Stage: query. [`Filter`] is the one search description every front end builds (CLI flags now,
//! the HTTP API later) and every store answers. [`output`] renders messages as a table, JSON or
//! CSV with stable field names.
//!
//! ```
//! use mailtrace_query::{AddressPattern, Filter};
//! let f = Filter { from: Some("@Example.com".parse().unwrap()), ..Filter::default() };
//! assert_eq!(f.from, Some(AddressPattern::Domain("example.com".into())));
//! ```
#![deny(missing_docs)]

mod filter;
pub mod output;
mod params;

pub use filter::{
    parse_duration, parse_instant, AddressPattern, Filter, FilterError, Paging, TimePreset,
};
pub use params::FilterParams;
