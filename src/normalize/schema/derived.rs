//! The payloads marketgate computes rather than maps: the indicator table of
//! `/v1/indicators` and the movers of `/v1/movers` (computed in `crate::derive`).

use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::{Market, Ts};

/// `/v1/indicators` data: one row per candle shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Field names (`sma_20`, ...), in the order of each row's values.
    pub fields: Arc<[String]>,
    /// Oldest first.
    pub rows: Vec<Row>,
}

/// One candle's close and indicator values.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Candle open time.
    pub ts: Ts,
    /// Close.
    pub close: f64,
    /// In the order of the table's fields.
    pub values: Vec<Option<f64>>,
}

impl Serialize for Table {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for row in &self.rows {
            seq.serialize_element(&RowOut { fields: &self.fields, row })?;
        }
        seq.end()
    }
}

struct RowOut<'a> {
    fields: &'a [String],
    row: &'a Row,
}

impl Serialize for RowOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2 + self.fields.len()))?;
        map.serialize_entry("ts", &self.row.ts)?;
        map.serialize_entry("close", &self.row.close)?;
        for (f, v) in self.fields.iter().zip(&self.row.values) {
            map.serialize_entry(f, v)?;
        }
        map.end()
    }
}

/// `{"gainers": [...], "losers": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Movers {
    /// Risen most first; only markets that rose.
    pub gainers: Vec<Market>,
    /// Fallen most first; only markets that fell.
    pub losers: Vec<Market>,
}
