//! What DynamoDB keeps, per partition: tables with their items, and the client request tokens
//! of recent transactions (TransactWriteItems is idempotent for 10 minutes per token).

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
}
