//! Nova behaviour checked against the captured samples.
