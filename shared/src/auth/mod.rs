//! Who may do what: API keys and their scopes ([`keys`]), request signatures
//! ([`signature`]), the tokens of one-click unsubscribe links ([`unsubscribe`]) and
//! storefront platforms' webhook signatures ([`webhook`]).

pub mod keys;
pub mod signature;
pub mod unsubscribe;
pub mod webhook;
