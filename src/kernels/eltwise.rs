//! Element-wise operations of the training step.
