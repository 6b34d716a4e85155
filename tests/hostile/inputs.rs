//! Crafted event fields: recipient injection, far-future and ancient timestamps,
//! self-referral at conversion, an erased customer's referral code.
