//! Who may do what: storefront request signatures ([`signature`]) and the tokens of
//! one-click unsubscribe links ([`unsubscribe`]).

pub mod signature;
pub mod unsubscribe;
