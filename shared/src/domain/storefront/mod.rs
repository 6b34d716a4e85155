//! Storefront platforms' webhook payloads, read into Rapport's own events so that a
//! shop connects with no code of its own. One module per platform; each only reads
//! (signatures are checked in `auth::webhook`, state is read by the handler).

pub mod shopify;
