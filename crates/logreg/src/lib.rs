//! Logistic regression as a tool for tabular data: binary (one sigmoid),
//! multilabel (independent sigmoids) and multiclass (softmax) on CSV files,
//! with one-hot or label encoding and missing-value handling stored in the
//! model file.
//!
//! Rooms: [`data`] (CSV, column types, targets, encoders, the generator),
//! [`model`], [`objective`] (loss and analytic gradient), [`train`]
//! (L-BFGS fit, run report), [`eval`] (metrics), [`infer`] (model file, predict).

pub mod data;
pub mod eval;
pub mod infer;
pub mod model;
pub mod objective;
pub mod train;
