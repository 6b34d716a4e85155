//! Outreach: which one message a customer gets, if any ([`decide`]), and what is
//! remembered about messages ([`messages`]).

pub mod decide;
pub mod festivals;
pub mod messages;
pub mod recommend;
pub mod replenish;
pub mod tips;

pub use decide::{
    CustomerContext, Decision, MakeGood, OutreachRules, Population, SuppressReason, candidates,
    decide, held_out,
};
pub use messages::{
    JobState, MessageKind, MessageRecord, MessageStatus, Offer, PastMessage, Planned,
};
