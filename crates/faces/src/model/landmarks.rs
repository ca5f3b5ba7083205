//! The 5-point landmark predictor (dlib's regression-tree cascade).
