//! One module per storefront event: its wire shape, its validation, and the rule that
//! turns it into the changes the store commits. Event modules never import each other;
//! what two of them share lives in the layers below (profile, ledger, loyalty rules).

pub mod activity;
pub mod purchase;
pub mod redemption;
pub mod referral;
pub mod review;
