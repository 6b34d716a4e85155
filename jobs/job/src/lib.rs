//! Rapport's scheduled scoring-and-outreach job: the run over the live store (scan,
//! fit, score, decide, deliver, write back) and its report. The models themselves are
//! in `rapport-models`, which knows nothing of AWS.

pub mod report;
pub mod run;
pub mod summary;
