//! Releases and their promotions, as the table holds them.
//!
//! A release is one item in the `releases` partition, its sort key the release id (so a
//! prefix of an id is a `begins_with` query), plus a copy in `releases-by-time` for the
//! newest-first listing; a rejection updates both in one transaction, on the condition that
//! neither was rejected before. A promotion is its own item plus copies in `promotions` and
//! `promotions-of#RELEASE`, inserted in one transaction with a condition check that the
//! release exists and is not rejected: a promotion cannot slip in beside a rejection.

use ferry_store::{Promotion, Rejection, Release, ReleaseEntry, StoreError};

use super::items::{self, Item};
use super::store::{CONFLICT_RETRIES, CallResult, Cond, Fail, Range, Table, Write};

const ID_PREFIX: &str = "rel-";
const ID_DIGITS: usize = 12;
const MIN_PREFIX_DIGITS: usize = 6;

fn read_release(table: &Table, item: &Item) -> CallResult<Release> {
    items::read_record(table, item, "release", items::SK)
}

fn read_promotion(table: &Table, item: &Item) -> CallResult<Promotion> {
    items::read_record(table, item, "promotion", items::PK)
}

fn not_yet_rejected() -> Cond {
    Cond::new("attribute_exists(#pk) AND attribute_not_exists(#rejected)").name("#pk", items::PK).name("#rejected", "rejected")
}

impl Table {
    /// Records the release of `entries` (already validated and sorted, with its `id`), or
    /// returns the one recorded first.
    pub async fn create_release(
        &self,
        id: &str,
        entries: Vec<ReleaseEntry>,
        created_by: &str,
        source: &str,
        commits: &[String],
        now: i64,
    ) -> CallResult<Release> {
        let release = Release {
            id: id.to_string(),
            entries,
            created_by: created_by.to_string(),
            created_at: now,
            source: source.to_string(),
            commits: commits.to_vec(),
            rejected: None,
        };
        let value = serde_json::to_value(&release).map_err(|e| self.corrupt(&format!("release {id}"), e))?;
        for _ in 0..CONFLICT_RETRIES {
            if let Some(item) = self.get(items::RELEASES, id).await? {
                return read_release(self, &item);
            }
            let order = items::order_key(now, self.next_seq().await?);
            let mut primary = items::record_item(items::key(items::RELEASES, id), "release", value.clone());
            primary.insert(items::ORDER.to_string(), items::s(&order));
            let copy = items::record_item(items::key(items::RELEASES_BY_TIME, &order), "release", value.clone());
            let writes = vec![Write::Put { item: primary, cond: Some(Cond::absent()) }, Write::Put { item: copy, cond: None }];
            match self.transact(writes).await {
                Ok(()) => return Ok(release),
                // Created meanwhile by someone else: theirs is the first, read at the top.
                Err(Fail::Conflict) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Fail::Store(self.busy(&format!("recording release {id}"))))
    }

    /// The release item `query` names: itself, or the only id it is a prefix of.
    async fn resolve(&self, query: &str) -> CallResult<Option<Item>> {
        // A sort key is 1 to 1024 bytes: anything else names no release (and DynamoDB
        // refuses it as a key).
        if (1..=1024).contains(&query.len())
            && let Some(item) = self.get(items::RELEASES, query).await?
        {
            return Ok(Some(item));
        }
        let digits = query.strip_prefix(ID_PREFIX).unwrap_or(query);
        if digits.len() < MIN_PREFIX_DIGITS || digits.len() > ID_DIGITS || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let prefix = format!("{ID_PREFIX}{}", digits.to_ascii_lowercase());
        let mut candidates = self.query(items::RELEASES, Range::BeginsWith(prefix), false, Some(10), |_| true).await?;
        match candidates.len() {
            0 => Ok(None),
            1 => Ok(candidates.pop()),
            _ => {
                let ids: Vec<&str> = candidates.iter().filter_map(|item| items::get_s(item, items::SK)).collect();
                Err(Fail::Store(StoreError::Invalid(format!(
                    "release id {query} is ambiguous, it could be any of: {}; give more digits",
                    ids.join(", ")
                ))))
            }
        }
    }

    pub async fn release(&self, id: &str) -> CallResult<Option<Release>> {
        match self.resolve(id).await? {
            Some(item) => Ok(Some(read_release(self, &item)?)),
            None => Ok(None),
        }
    }

    pub async fn releases(&self, limit: usize) -> CallResult<Vec<Release>> {
        let limit = if limit == 0 { ferry_store::HistoryFilter::DEFAULT_LIMIT } else { limit };
        let found = self.query(items::RELEASES_BY_TIME, Range::All, true, Some(limit), |_| true).await?;
        found.iter().map(|item| read_release(self, item)).collect()
    }

    pub async fn reject_release(&self, id: &str, by: &str, reason: &str, now: i64) -> CallResult<Release> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(item) = self.resolve(id).await? else {
                return Err(Fail::Store(StoreError::NotFound(format!("no release {id} in the ledger to reject"))));
            };
            let release = read_release(self, &item)?;
            if release.rejected.is_some() {
                return Ok(release);
            }
            let Some(order) = items::get_s(&item, items::ORDER) else {
                return Err(self.corrupt(&format!("release {}", release.id), "it has no order attribute"));
            };
            let rejection = Rejection { by: by.to_string(), at: now, reason: reason.to_string() };
            let value = serde_json::to_value(&rejection).map_err(|e| self.corrupt(&format!("release {}", release.id), e))?;
            let update = |key: Item| {
                let cond = not_yet_rejected().value(":r", items::to_attribute(value.clone()));
                Write::Update { key, update: Cond { expr: "SET #rejected = :r".to_string(), ..cond.clone() }, check: Some(cond.expr) }
            };
            let writes = vec![update(items::key(items::RELEASES, &release.id)), update(items::key(items::RELEASES_BY_TIME, order))];
            match self.transact(writes).await {
                Ok(()) => return Ok(Release { rejected: Some(rejection), ..release }),
                // Rejected meanwhile: the first rejection is kept, and read at the top.
                Err(Fail::Conflict) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Fail::Store(self.busy(&format!("rejecting release {id}"))))
    }

    fn promotion_writes(&self, p: &Promotion, order: &str, own: Cond) -> CallResult<Vec<Write>> {
        let value = serde_json::to_value(p).map_err(|e| self.corrupt(&format!("promotion {}", p.id), e))?;
        let mut primary = items::record_item(items::key(items::promotion_pk(&p.id), items::PROMOTION_SK), "promotion", value.clone());
        primary.insert(items::ORDER.to_string(), items::s(order));
        Ok(vec![
            Write::Put { item: primary, cond: Some(own) },
            Write::Put { item: items::record_item(items::key(items::PROMOTIONS, order), "promotion", value.clone()), cond: None },
            Write::Put {
                item: items::record_item(items::key(items::promotions_of_pk(&p.release_id), order), "promotion", value),
                cond: None,
            },
        ])
    }

    pub async fn insert_promotion(&self, p: &Promotion) -> CallResult<()> {
        for _ in 0..CONFLICT_RETRIES {
            let order = items::order_key(p.started_at, self.next_seq().await?);
            let mut writes = self.promotion_writes(p, &order, Cond::absent())?;
            writes.insert(0, Write::Check { key: items::key(items::RELEASES, &p.release_id), cond: not_yet_rejected() });
            match self.transact(writes).await {
                Ok(()) => return Ok(()),
                Err(Fail::Conflict) => {}
                Err(other) => return Err(other),
            }
            // Which condition failed: the release (missing, rejected) or the id (taken)?
            let release = match self.get(items::RELEASES, &p.release_id).await? {
                Some(item) => read_release(self, &item)?,
                None => {
                    return Err(Fail::Store(StoreError::NotFound(format!("no release {} in the ledger to promote", p.release_id))));
                }
            };
            if let Some(rejection) = release.rejected {
                return Err(Fail::Store(StoreError::Invalid(format!(
                    "release {} was rejected by {} ({}) and can never be promoted",
                    p.release_id, rejection.by, rejection.reason
                ))));
            }
            if self.get(&items::promotion_pk(&p.id), items::PROMOTION_SK).await?.is_some() {
                return Err(Fail::Store(StoreError::Invalid(format!(
                    "ledger {}: promotion {} is already recorded; promotion ids are unique",
                    self.location(),
                    p.id
                ))));
            }
        }
        Err(Fail::Store(self.busy(&format!("recording promotion {}", p.id))))
    }

    pub async fn update_promotion(&self, p: &Promotion) -> CallResult<()> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(item) = self.get(&items::promotion_pk(&p.id), items::PROMOTION_SK).await? else {
                return Err(Fail::Store(StoreError::NotFound(format!("no promotion {} in the ledger to update", p.id))));
            };
            let stored = read_promotion(self, &item)?;
            let Some(order) = items::get_s(&item, items::ORDER).map(str::to_string) else {
                return Err(self.corrupt(&format!("promotion {}", p.id), "it has no order attribute"));
            };
            let updated = Promotion {
                approved_by: p.approved_by.clone(),
                finished_at: p.finished_at,
                outcome: p.outcome,
                reason: p.reason.clone(),
                deployment_ids: p.deployment_ids.clone(),
                ..stored
            };
            match self.transact(self.promotion_writes(&updated, &order, Cond::present())?).await {
                Ok(()) => return Ok(()),
                Err(Fail::Conflict) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Fail::Store(self.busy(&format!("updating promotion {}", p.id))))
    }

    pub async fn promotions(&self, release_id: Option<&str>, limit: usize) -> CallResult<Vec<Promotion>> {
        let limit = if limit == 0 { ferry_store::HistoryFilter::DEFAULT_LIMIT } else { limit };
        let pk = release_id.map_or_else(|| items::PROMOTIONS.to_string(), items::promotions_of_pk);
        let found = self.query(&pk, Range::All, true, Some(limit), |_| true).await?;
        found.iter().map(|item| read_promotion(self, item)).collect()
    }
}
