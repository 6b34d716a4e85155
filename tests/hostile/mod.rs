//! The hostile client: each test is an attack a storefront's neighbour, a leaked
//! header or a crafted event could make, and each asserts the exact status and that
//! nothing changed in the table.
//!
//! - `requests`: captured signatures replayed on another method, path, query or
//!   customer; a storefront key on admin routes; a redemption replayed onto another
//!   customer.
//! - `inputs`: recipient injection in e-mail addresses, future- and ancient-dated
//!   events, self-referral at conversion, an erased customer's referral code.
//! - `growth`: a customer with a very long history keeps working.

mod growth;
mod inputs;
mod requests;
