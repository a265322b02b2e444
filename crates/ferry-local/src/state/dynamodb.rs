//! What DynamoDB keeps, per partition: tables with their items, and the client request tokens
//! of recent transactions (TransactWriteItems is idempotent for 10 minutes per token).
//!
//! Every change goes through the methods here, which also note it in [`DynamoDb::changes`]
//! with what it replaced: the server turns a request's changes into one journal record (the
//! items and tables as they now are, see `super::journal`), or undoes them when that record
//! cannot be written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Tag;
use crate::dynamodb::value::Item;

/// The DynamoDB tables of one account and region.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DynamoDb {
    /// Table name → table.
    #[serde(default)]
    pub tables: BTreeMap<String, Table>,
    /// ClientRequestToken → (digest of the request it came with, when it was used).
    #[serde(default)]
    pub transaction_tokens: BTreeMap<String, (String, f64)>,
    /// The changes not yet in the journal, oldest first. A write's changes are journaled (and
    /// cleared) before it is answered; items a read found expired (TTL) wait here for the
    /// next write of the partition (a read is never persisted).
    #[serde(skip)]
    pub changes: Vec<Change>,
}

/// One change to a partition's DynamoDB, with what was there before (to undo it).
#[derive(Clone, Debug)]
pub enum Change {
    /// An item was stored or deleted; `before` is the item it replaced.
    Item { table: String, key: String, before: Option<Item> },
    /// A table was created.
    Created { table: String },
    /// A table's settings changed (TTL, tags): they were these.
    Settings { table: String, ttl_attribute: Option<String>, tags: Vec<Tag> },
    /// A table was deleted: this one, with its items.
    Deleted { table: Box<Table> },
    /// A transaction's client token was recorded; `before` is what it replaced.
    Token { token: String, before: Option<(String, f64)> },
}

impl DynamoDb {
    /// Stores `item` under `key` in `table` (or deletes it when None). No table, no change.
    pub fn set_item(&mut self, table: &str, key: &str, item: Option<Item>) {
        let Some(t) = self.tables.get_mut(table) else { return };
        if let (Some(attribute), Some(item), Some(next)) = (&t.ttl_attribute, &item, t.next_expiry)
            && let Some(crate::dynamodb::value::AttrValue::N(n)) = item.get(attribute)
            && let Some(at) = n.to_f64()
        {
            t.next_expiry = Some(next.min(at));
        }
        let before = match item {
            Some(item) => t.items.insert(key.to_string(), item),
            None => t.items.remove(key),
        };
        self.changes.push(Change::Item { table: table.to_string(), key: key.to_string(), before });
    }

    /// Adds a new table (its name must be free).
    pub fn create_table(&mut self, table: Table) {
        self.changes.push(Change::Created { table: table.name.clone() });
        self.tables.insert(table.name.clone(), table);
    }

    /// Deletes a table with its items.
    pub fn delete_table(&mut self, name: &str) {
        if let Some(table) = self.tables.remove(name) {
            self.changes.push(Change::Deleted { table: Box::new(table) });
        }
    }

    /// Changes a table's TTL attribute and tags.
    pub fn set_settings(&mut self, name: &str, ttl_attribute: Option<String>, tags: Vec<Tag>) {
        let Some(t) = self.tables.get_mut(name) else { return };
        let ttl_before = std::mem::replace(&mut t.ttl_attribute, ttl_attribute);
        t.next_expiry = None;
        let tags_before = std::mem::replace(&mut t.tags, tags);
        self.changes.push(Change::Settings { table: name.to_string(), ttl_attribute: ttl_before, tags: tags_before });
    }

    /// Records a transaction's client token.
    pub fn set_token(&mut self, token: String, digest: String, at: f64) {
        let before = self.transaction_tokens.insert(token.clone(), (digest, at));
        self.changes.push(Change::Token { token, before });
    }

    /// Undoes the changes after the first `keep`, newest first.
    pub fn undo(&mut self, keep: usize) {
        while self.changes.len() > keep {
            let Some(change) = self.changes.pop() else { return };
            match change {
                Change::Item { table, key, before } => {
                    if let Some(t) = self.tables.get_mut(&table) {
                        t.next_expiry = None;
                        match before {
                            Some(item) => t.items.insert(key, item),
                            None => t.items.remove(&key),
                        };
                    }
                }
                Change::Created { table } => {
                    self.tables.remove(&table);
                }
                Change::Settings { table, ttl_attribute, tags } => {
                    if let Some(t) = self.tables.get_mut(&table) {
                        t.next_expiry = None;
                        t.ttl_attribute = ttl_attribute;
                        t.tags = tags;
                    }
                }
                Change::Deleted { table } => {
                    self.tables.insert(table.name.clone(), *table);
                }
                Change::Token { token, before } => {
                    match before {
                        Some(b) => self.transaction_tokens.insert(token, b),
                        None => self.transaction_tokens.remove(&token),
                    };
                }
            }
        }
    }
}

/// A table (CreateTable) and its items.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    /// `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`.
    pub arn: String,
    /// A UUID, as `TableId`.
    pub id: String,
    /// Seconds since the epoch.
    pub created_at: f64,
    /// The partition (HASH) key's attribute name.
    pub hash_key: String,
    /// The sort (RANGE) key's attribute name, if the table has one.
    pub range_key: Option<String>,
    /// `AttributeDefinitions`: attribute name → `S`, `N` or `B`.
    pub attributes: BTreeMap<String, String>,
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: String,
    pub read_capacity: i64,
    pub write_capacity: i64,
    /// The TTL attribute, when time to live is enabled.
    #[serde(default)]
    pub ttl_attribute: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub deletion_protection: bool,
    /// `STANDARD` or `STANDARD_INFREQUENT_ACCESS`, when the request named one.
    #[serde(default)]
    pub table_class: Option<String>,
    /// The key's canonical encoding (see `crate::dynamodb::key_string`) → item: Scan order.
    #[serde(default)]
    pub items: BTreeMap<String, Item>,
    /// The earliest time to live among the items (TTL on), when known: no item expires
    /// before it, so the sweep skips the table until then. Not saved; None looks again.
    #[serde(skip)]
    pub next_expiry: Option<f64>,
}

impl Table {
    /// The table without its items (what the journal records of a table's settings).
    pub fn without_items(&self) -> Table {
        Table {
            name: self.name.clone(),
            arn: self.arn.clone(),
            id: self.id.clone(),
            created_at: self.created_at,
            hash_key: self.hash_key.clone(),
            range_key: self.range_key.clone(),
            attributes: self.attributes.clone(),
            billing_mode: self.billing_mode.clone(),
            read_capacity: self.read_capacity,
            write_capacity: self.write_capacity,
            ttl_attribute: self.ttl_attribute.clone(),
            tags: self.tags.clone(),
            deletion_protection: self.deletion_protection,
            table_class: self.table_class.clone(),
            items: BTreeMap::new(),
            next_expiry: None,
        }
    }
}
