//! Meterdesk's billing rules, with no IO: no database, no files, no clock, no
//! windows. Money and rounding (`money`), periods (`period`), the definitions
//! of meters, plans and subscriptions, aggregation, the price models with
//! their steps (`pricing`), one subscription period's invoice arithmetic
//! (`rating`) and its settling (`settle`), late usage (`adjust`), costs and
//! margin (`cost`) and the business figures (`figures`). The engine stores and
//! loads what these rules compute; it never computes money itself.

pub mod adjust;
pub mod aggregate;
pub mod alert_rule;
pub mod cost;
pub mod figures;
pub mod mail;
pub mod meter;
pub mod money;
pub mod payment;
pub mod period;
pub mod plan;
pub mod pricing;
pub mod rating;
pub mod rng;
pub mod settle;
pub mod subscription;
pub mod text;

/// One thing wrong with an input, located by a JSON path (`$.customers[2].currency`),
/// a form field (`email`) or a file line (`line 7: currency`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { path: path.into(), message: message.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}
