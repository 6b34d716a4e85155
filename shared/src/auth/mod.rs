//! Who may do what: API keys and their scopes ([`keys`]), request signatures
//! ([`signature`]), the tokens of one-click unsubscribe links ([`unsubscribe`]) and of
//! links to a run's report ([`report_link`]), and storefront platforms' webhook
//! signatures ([`webhook`]).

pub mod keys;
pub mod report_link;
pub mod signature;
pub mod unsubscribe;
pub mod webhook;
