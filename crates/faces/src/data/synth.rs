//! Synthetic identities in the LFW layout (in progress).
