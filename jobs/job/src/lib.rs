//! Rapport's scheduled scoring-and-outreach job: the run over the live store (scan,
//! fit, score, decide, deliver, write back), its report, and the re-indexing of a table
//! written before the job's customer index existed. The models themselves are
//! in `rapport-models`, which knows nothing of AWS.

pub mod reindex;
pub mod report;
pub mod run;
pub mod summary;
