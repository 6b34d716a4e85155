//! Who may do what: API keys and their scopes ([`keys`]), request signatures
//! ([`signature`]) and the tokens of one-click unsubscribe links ([`unsubscribe`]).

pub mod keys;
pub mod signature;
pub mod unsubscribe;
