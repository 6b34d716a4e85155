//! The program document's versions: what is in force, saving a new version over the one
//! the merchant read (optimistic, by version number), and restoring an old one as a new
//! version. Version 0 is the deployment's settings, never stored.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::domain::FieldError;
use crate::domain::program::{Program, ProgramVersion};
use crate::store::{CommitError, ProgramStore, StoreError};

#[derive(Debug, Error)]
pub enum ProgramError {
    /// The document breaks these rules; nothing was saved.
    #[error("the program is invalid")]
    Invalid(Vec<FieldError>),
    /// The merchant edited an older version than the one in force.
    #[error("version {current} is in force, not {expected}")]
    Stale { expected: u64, current: u64 },
    #[error("no version {0}")]
    UnknownVersion(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The version in force: the latest saved, or the deployment's settings as version 0.
pub async fn program_in_force<S: ProgramStore + ?Sized>(
    store: &S,
    settings: &Program,
) -> Result<ProgramVersion, StoreError> {
    Ok(store
        .current_program()
        .await?
        .unwrap_or_else(|| ProgramVersion {
            version: 0,
            program: settings.clone(),
            saved_at: None,
            saved_by: None,
            restored_from: None,
        }))
}

/// Saves `program` as the next version if `expected` is still the one in force.
pub async fn save_program<S: ProgramStore + ?Sized>(
    store: &S,
    settings: &Program,
    expected: u64,
    program: Program,
    by: &str,
    now: DateTime<Utc>,
) -> Result<ProgramVersion, ProgramError> {
    save(store, settings, expected, program, by, None, now).await
}

/// Puts version `from`'s content (0: the deployment's settings) back in force as the
/// next version, if `expected` is still the one in force.
pub async fn restore_program<S: ProgramStore + ?Sized>(
    store: &S,
    settings: &Program,
    expected: u64,
    from: u64,
    by: &str,
    now: DateTime<Utc>,
) -> Result<ProgramVersion, ProgramError> {
    let program = match from {
        0 => settings.clone(),
        n => {
            store
                .program_version(n)
                .await?
                .ok_or(ProgramError::UnknownVersion(n))?
                .program
        }
    };
    save(store, settings, expected, program, by, Some(from), now).await
}

async fn save<S: ProgramStore + ?Sized>(
    store: &S,
    settings: &Program,
    expected: u64,
    program: Program,
    by: &str,
    restored_from: Option<u64>,
    now: DateTime<Utc>,
) -> Result<ProgramVersion, ProgramError> {
    let problems = program.problems();
    if !problems.is_empty() {
        return Err(ProgramError::Invalid(problems));
    }
    let current = program_in_force(store, settings).await?.version;
    if current != expected {
        return Err(ProgramError::Stale { expected, current });
    }
    let next = ProgramVersion {
        version: current + 1,
        program,
        saved_at: Some(now),
        saved_by: Some(by.to_owned()),
        restored_from,
    };
    match store.save_program(&next).await {
        Ok(()) => Ok(next),
        // Another save took the version between the read and the write.
        Err(CommitError::Conflict | CommitError::AlreadyRecorded) => {
            let current = program_in_force(store, settings).await?.version;
            Err(ProgramError::Stale { expected, current })
        }
        Err(CommitError::Store(e)) => Err(e.into()),
        Err(other) => Err(StoreError::Internal(other.to_string()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, LoyaltyRules, ReferralRules, ReviewRules, Tier, TierRule};
    use crate::store::MemoryStore;

    fn settings() -> Program {
        let tiers = vec![TierRule {
            tier: Tier("member".into()),
            threshold: 0,
            multiplier_pct: 100,
            ..TierRule::default()
        }];
        let rules =
            LoyaltyRules::new(Currency::parse("c", "USD").unwrap(), 1, tiers, 1, 90).unwrap();
        Program::from_rules(
            &rules,
            &ReviewRules::default(),
            &ReferralRules::default(),
            &crate::domain::outreach::OutreachRules::default(),
        )
    }

    #[tokio::test]
    async fn versions_follow_each_other_and_a_stale_edit_is_refused() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let defaults = settings();
        assert_eq!(
            program_in_force(&store, &defaults).await.unwrap().version,
            0
        );
        let mut richer = defaults.clone();
        richer.earning.points_per_unit = 2;
        let v1 = save_program(&store, &defaults, 0, richer.clone(), "admin-1", now)
            .await
            .unwrap();
        assert_eq!(v1.version, 1);
        let stale = save_program(&store, &defaults, 0, richer, "admin-2", now).await;
        assert!(matches!(
            stale,
            Err(ProgramError::Stale {
                expected: 0,
                current: 1
            })
        ));
        let mut broken = defaults.clone();
        broken.tiers.clear();
        let invalid = save_program(&store, &defaults, 1, broken, "admin-1", now).await;
        assert!(matches!(invalid, Err(ProgramError::Invalid(p)) if p[0].field == "tiers"));
        let back = restore_program(&store, &defaults, 1, 0, "admin-1", now)
            .await
            .unwrap();
        assert_eq!((back.version, back.restored_from), (2, Some(0)));
        assert_eq!(back.program, defaults);
        let unknown = restore_program(&store, &defaults, 2, 9, "admin-1", now).await;
        assert!(matches!(unknown, Err(ProgramError::UnknownVersion(9))));
        let history = store.program_history(10).await.unwrap();
        let versions: Vec<u64> = history.iter().map(|v| v.version).collect();
        assert_eq!(versions, [2, 1]);
    }
}
