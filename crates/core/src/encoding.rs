//! Label encoding: class name <-> index, and one-hot vectors. The encoder is
//! stored inside model files so predictions come back as the original names.

use serde::{Deserialize, Serialize};

/// Maps class names to dense indices `0..k` in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelEncoder {
    classes: Vec<String>,
}

impl LabelEncoder {
    /// Builds an encoder from the distinct values, sorted so the order does not
    /// depend on the order the data was read in.
    pub fn fit<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Self {
        let mut classes: Vec<String> = values.into_iter().map(|v| v.as_ref().to_string()).collect();
        classes.sort();
        classes.dedup();
        Self { classes }
    }

    /// An encoder with exactly these classes, in this order.
    pub fn from_classes(classes: Vec<String>) -> Self {
        Self { classes }
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The index of `name`, or `None` for a class the encoder has not seen.
    pub fn encode(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == name)
    }

    /// The name of class `index`.
    pub fn decode(&self, index: usize) -> Option<&str> {
        self.classes.get(index).map(String::as_str)
    }

    /// A one-hot vector of length `k` for `index`.
    pub fn one_hot(&self, index: usize) -> Vec<f32> {
        let mut v = vec![0.0; self.classes.len()];
        if let Some(slot) = v.get_mut(index) {
            *slot = 1.0;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_round_trips_and_is_order_independent() {
        let a = LabelEncoder::fit(["night", "day", "night"]);
        let b = LabelEncoder::fit(["day", "night"]);
        assert_eq!(a, b);
        for name in ["day", "night"] {
            assert_eq!(a.decode(a.encode(name).unwrap()), Some(name));
        }
        assert_eq!(a.encode("dusk"), None);
        assert_eq!(a.one_hot(1), vec![0.0, 1.0]);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<LabelEncoder>(&json).unwrap(), a);
    }
}
