//! Releases: immutable sets of images, named by their content, that may be rejected for good.
//!
//! A release's id is a hash of what it ships, so "create" is really "find or create": the
//! same images make the same release whoever asks, and its first creation is what is kept.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, named_params};
use sha2::{Digest, Sha256};

use crate::model::{StoredList, StringList, effective_limit};
use crate::{Rejection, Release, ReleaseEntry, SqliteLedger, StoreError};

/// What every release id starts with.
const ID_PREFIX: &str = "rel-";

/// Hex digits of the hash kept in an id: 48 bits, so two releases collide only after some
/// ten million of them, and an id still fits in a table column.
const ID_DIGITS: usize = 12;

/// The fewest hex digits [`Ledger::release`] accepts as a prefix: fewer would match a
/// different release as soon as the ledger holds a few thousand.
const MIN_PREFIX_DIGITS: usize = 6;

/// The columns [`release_from_row`] reads.
const COLUMNS: &str = "id, created_by, created_at, source, commits, rejected_by, rejected_at, rejection_reason";

/// What [`Ledger::create_release`] would record for `entries`, without recording it: the
/// release's id and its entries in order. Errors: the entries are not a release (none, a
/// service twice, a malformed digest), as `create_release` refuses them.
pub fn release_of(mut entries: Vec<ReleaseEntry>) -> Result<(String, Vec<ReleaseEntry>), StoreError> {
    validate(&entries)?;
    entries.sort_by(|a, b| a.service.cmp(&b.service));
    let id = release_id(&entries);
    Ok((id, entries))
}

/// The id of the release made of `entries`: "rel-" and the first 12 hex digits of the
/// SHA-256 of their canonical form, each entry as `service\0repository\0digest\n`, sorted.
///
/// Only what is shipped counts: the order the entries come in does not, and neither does
/// `version`, because a tag can be moved to another image while a digest names exactly one.
/// So the images that were tested upstream are the same release downstream, whichever tags
/// people used to name them. (Entries are sorted by service, then repository and digest,
/// so even a list that repeats a service, which [`Ledger::create_release`] refuses, has one
/// id.)
pub fn release_id(entries: &[ReleaseEntry]) -> String {
    let mut sorted: Vec<&ReleaseEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| (&a.service, &a.repository, &a.digest).cmp(&(&b.service, &b.repository, &b.digest)));
    let mut hasher = Sha256::new();
    for entry in sorted {
        hasher.update(entry.service.as_bytes());
        hasher.update(b"\0");
        hasher.update(entry.repository.as_bytes());
        hasher.update(b"\0");
        hasher.update(entry.digest.as_bytes());
        hasher.update(b"\n");
    }
    let hash = hasher.finalize();
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{ID_PREFIX}{}", &hex[..ID_DIGITS])
}

impl SqliteLedger {
    /// Records the release made of `entries` and returns it, entries sorted by service.
    ///
    /// If that release is already recorded (same images, see [`release_id`]), it is returned
    /// as it is, first creator, time, versions, commits and any rejection included: a release
    /// is immutable, and recreating a rejected one must not make it promotable again.
    ///
    /// [`StoreError::Invalid`] for no entries, a service listed twice (which image would
    /// ship?), or an empty service, repository or digest, or one containing a NUL or a
    /// newline (they would make the canonical form behind the id ambiguous).
    pub fn create_release(
        &self,
        entries: Vec<ReleaseEntry>,
        created_by: &str,
        source: &str,
        commits: &[String],
        now: i64,
    ) -> Result<Release, StoreError> {
        let (id, entries) = release_of(entries)?;
        self.with_conn(|conn| {
            // Immediate: two ferry processes creating the same release at once must not
            // both see it missing.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(existing) = read_release(&tx, &id)? {
                return Ok(existing);
            }
            tx.execute(
                "INSERT INTO releases (id, created_by, created_at, source, commits)
                 VALUES (:id, :created_by, :created_at, :source, :commits)",
                named_params! {
                    ":id": id,
                    ":created_by": created_by,
                    ":created_at": now,
                    ":source": source,
                    ":commits": StringList(commits),
                },
            )?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO release_entries (release_id, service, repository, digest, version)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for entry in &entries {
                    insert.execute((&id, &entry.service, &entry.repository, &entry.digest, &entry.version))?;
                }
            }
            tx.commit()?;
            self.remember_size(conn);
            Ok(Release {
                id,
                entries,
                created_by: created_by.to_string(),
                created_at: now,
                source: source.to_string(),
                commits: commits.to_vec(),
                rejected: None,
            })
        })
    }

    /// The release with this id, or the only one whose id starts with it.
    ///
    /// A prefix needs at least 6 hex digits, with or without the "rel-" in front (so the
    /// short ids people copy from `ferry release list` work); one that matches several
    /// releases is [`StoreError::Invalid`], naming them. `None` if nothing matches.
    pub fn release(&self, id: &str) -> Result<Option<Release>, StoreError> {
        self.with_conn(|conn| match resolve(conn, id)? {
            Some(full) => read_release(conn, &full),
            None => Ok(None),
        })
    }

    /// The newest releases first (by creation time, then by order of creation), at most
    /// `limit` of them; 0 means 50.
    pub fn releases(&self, limit: usize) -> Result<Vec<Release>, StoreError> {
        self.with_conn(|conn| {
            let sql = format!("SELECT {COLUMNS} FROM releases ORDER BY created_at DESC, seq DESC LIMIT ?1");
            let mut stmt = conn.prepare_cached(&sql)?;
            let headers = stmt.query_map([effective_limit(limit)], release_from_row)?.collect::<Result<Vec<_>, _>>()?;
            headers
                .into_iter()
                .map(|mut release| {
                    release.entries = read_entries(conn, &release.id)?;
                    Ok(release)
                })
                .collect()
        })
    }

    /// Rejects the release `id` (or unique prefix, as for [`Ledger::release`]) for good and
    /// returns it: it may never be promoted again.
    ///
    /// Rejecting a rejected release changes nothing and returns the first rejection: who
    /// stopped it, and why, is what people need to find later. [`StoreError::NotFound`] if
    /// no release matches.
    pub fn reject_release(&self, id: &str, by: &str, reason: &str, now: i64) -> Result<Release, StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(full) = resolve(&tx, id)? else {
                return Err(StoreError::NotFound(format!("no release {id} in the ledger to reject")));
            };
            tx.execute(
                "UPDATE releases SET rejected_by = ?2, rejected_at = ?3, rejection_reason = ?4
                 WHERE id = ?1 AND rejected_at IS NULL",
                (&full, by, now, reason),
            )?;
            let release =
                read_release(&tx, &full)?.ok_or_else(|| StoreError::NotFound(format!("release {full} vanished while being rejected")))?;
            tx.commit()?;
            Ok(release)
        })
    }
}

fn validate(entries: &[ReleaseEntry]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Err(StoreError::Invalid("a release needs at least one service".to_string()));
    }
    let mut seen = BTreeSet::new();
    for entry in entries {
        for (field, value) in [("service", &entry.service), ("repository", &entry.repository), ("digest", &entry.digest)] {
            if value.is_empty() || value.contains(['\0', '\n']) {
                return Err(StoreError::Invalid(format!(
                    "release entry for service {:?}: the {field} {value:?} is empty or contains a NUL or newline",
                    entry.service
                )));
            }
        }
        if !seen.insert(entry.service.as_str()) {
            return Err(StoreError::Invalid(format!(
                "service {} is listed twice in the release; a release has one image per service",
                entry.service
            )));
        }
    }
    Ok(())
}

/// The full id `query` names: itself if recorded, else the only id it is a prefix of (see
/// [`Ledger::release`]).
pub(crate) fn resolve(conn: &Connection, query: &str) -> Result<Option<String>, StoreError> {
    let exact =
        conn.prepare_cached("SELECT id FROM releases WHERE id = ?1")?.query_row([query], |row| row.get::<_, String>(0)).optional()?;
    if exact.is_some() {
        return Ok(exact);
    }
    let digits = query.strip_prefix(ID_PREFIX).unwrap_or(query);
    if digits.len() < MIN_PREFIX_DIGITS || digits.len() > ID_DIGITS || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let prefix = format!("{ID_PREFIX}{}", digits.to_ascii_lowercase());
    // substr rather than LIKE: nothing in the prefix is a pattern. Capped at a handful, for
    // the message.
    let candidates = conn
        .prepare_cached("SELECT id FROM releases WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id LIMIT 10")?
        .query_map([&prefix], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    match candidates.as_slice() {
        [] => Ok(None),
        [only] => Ok(Some(only.clone())),
        several => Err(StoreError::Invalid(format!(
            "release id {query} is ambiguous, it could be any of: {}; give more digits",
            several.join(", ")
        ))),
    }
}

fn read_release(conn: &Connection, id: &str) -> Result<Option<Release>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM releases WHERE id = ?1");
    let Some(mut release) = conn.prepare_cached(&sql)?.query_row([id], release_from_row).optional()? else {
        return Ok(None);
    };
    release.entries = read_entries(conn, id)?;
    Ok(Some(release))
}

fn read_entries(conn: &Connection, release_id: &str) -> Result<Vec<ReleaseEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT service, repository, digest, version FROM release_entries
         WHERE release_id = ?1 ORDER BY service",
    )?;
    let entries = stmt
        .query_map([release_id], |row| {
            Ok(ReleaseEntry {
                service: row.get("service")?,
                repository: row.get("repository")?,
                digest: row.get("digest")?,
                version: row.get("version")?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(entries)
}

/// A release without its entries, which live in their own table.
fn release_from_row(row: &Row<'_>) -> rusqlite::Result<Release> {
    let rejected_at: Option<i64> = row.get("rejected_at")?;
    let rejected = match rejected_at {
        Some(at) => Some(Rejection { by: row.get("rejected_by")?, at, reason: row.get("rejection_reason")? }),
        None => None,
    };
    Ok(Release {
        id: row.get("id")?,
        entries: Vec::new(),
        created_by: row.get("created_by")?,
        created_at: row.get("created_at")?,
        source: row.get("source")?,
        commits: row.get::<_, StoredList>("commits")?.0,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(service: &str, digest: &str, version: Option<&str>) -> ReleaseEntry {
        ReleaseEntry {
            service: service.into(),
            repository: format!("repo/{service}"),
            digest: digest.into(),
            version: version.map(Into::into),
        }
    }

    #[test]
    fn the_id_is_the_hash_of_the_documented_canonical_form() {
        // printf 'api\0repo/api\0sha256:aa\nweb\0repo/web\0sha256:bb\n' | sha256sum
        let entries = [entry("web", "sha256:bb", Some("1.2.0")), entry("api", "sha256:aa", None)];
        assert_eq!(release_id(&entries), "rel-097ee50b41a3");
    }

    #[test]
    fn the_id_ignores_order_and_versions() {
        let a = [entry("api", "sha256:aa", Some("1.0.0")), entry("web", "sha256:bb", Some("2.0.0"))];
        let b = [entry("web", "sha256:bb", Some("latest")), entry("api", "sha256:aa", None)];
        assert_eq!(release_id(&a), release_id(&b));
    }

    #[test]
    fn the_id_changes_with_any_part_of_any_image() {
        let base = [entry("api", "sha256:aa", None), entry("web", "sha256:bb", None)];
        let id = release_id(&base);
        let digest = [entry("api", "sha256:aa", None), entry("web", "sha256:bc", None)];
        let mut repository = base.clone();
        repository[0].repository = "mirror/api".into();
        let mut service = base.clone();
        service[0].service = "apj".into();
        let fewer = [entry("api", "sha256:aa", None)];
        for other in [&digest[..], &repository[..], &service[..], &fewer[..]] {
            assert_ne!(release_id(other), id, "{other:?}");
        }
    }

    #[test]
    fn field_boundaries_are_part_of_the_id() {
        // Without the separators both would hash "abc".
        let a = [ReleaseEntry { service: "a".into(), repository: "bc".into(), digest: "d".into(), version: None }];
        let b = [ReleaseEntry { service: "ab".into(), repository: "c".into(), digest: "d".into(), version: None }];
        assert_ne!(release_id(&a), release_id(&b));
    }

    #[test]
    fn ids_have_the_documented_shape() {
        let id = release_id(&[entry("web", "sha256:bb", None)]);
        let digits = id.strip_prefix("rel-").expect("prefix");
        assert_eq!(digits.len(), 12);
        assert!(digits.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    }
}
